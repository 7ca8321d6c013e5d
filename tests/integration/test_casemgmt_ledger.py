"""The service ledger: completed tasks and ad-hoc services, scoping, filters, export and the monthly report."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.casemgmt import scoping
from portal.casemgmt.ledger import services as ledger
from portal.casemgmt.models import TASK_TYPES, CareTask, LedgerEntry
from portal.casemgmt.tasks import services as tasks
from portal.core.audit import AuditLog
from portal.core.timeutil import local_today
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user
from tests.sqlcount import statements

MONTH = date(2026, 10, 1)


@dataclass
class World:
    ward: object
    other_ward: object
    li: object
    wang: object
    boss: object
    li_patients: list
    wang_patients: list


@pytest.fixture
def world(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    other_ward = cm.make_ward("骨科病区", tree.orthopaedics)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.orthopaedics, "王个管")
    boss = make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="赵组长")
    cm.cover(ward, li)
    cm.cover(other_ward, wang)
    li_patients = []
    for i, (name, code, disease) in enumerate((("张三丰", "C34.1", "肺恶性肿瘤"), ("欧阳明月", "C34.9", "肺恶性肿瘤"),
                                               ("钱多多", "C18.2", "结肠恶性肿瘤"))):
        p = cm.make_patient(name, hospital_no=f"ZY10{i}")
        cm.enrol(p, case_manager=li, ward=ward, icd10_code=code, disease_name=disease)
        li_patients.append(p)
    wang_patients = []
    for i, name in enumerate(("孙悟空", "猪八戒")):
        p = cm.make_patient(name, hospital_no=f"ZY20{i}")
        cm.enrol(p, case_manager=wang, ward=other_ward, icd10_code="M16.1", disease_name="髋关节骨关节病")
        wang_patients.append(p)
    return World(ward, other_ward, li, wang, boss, li_patients, wang_patients)


def serve(patient, manager, day: date, outcome: str = "reached", task_type: str = "phone_followup",
          title: str | None = None) -> CareTask:
    """A task on the manager's list, completed on `day`: the ledger row comes from tasks.complete_task."""
    enrolment = patient.active_enrolment
    task = CareTask(due_date=day, first_due_date=day, case_manager_id=manager.id, patient_id=patient.id,
                    enrolment_id=enrolment.id if enrolment else None, source="plan", task_type=task_type,
                    title=title or TASK_TYPES[task_type], ward_id=enrolment.ward_id if enrolment else None)
    if outcome == "not_reached":  # the last allowed attempt: only a closed task reaches the ledger
        task.attempts = tasks.max_attempts() - 1
    db.session.add(task)
    db.session.flush()
    tasks.complete_task(task, manager, outcome=outcome, today=day)
    db.session.commit()
    return task


def rows_of(response) -> list[tuple]:
    assert response.status_code == 200, text_of(response)[:300]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))


def test_completed_tasks_reach_the_ledger_and_each_manager_sees_only_their_own(client, world):
    a, b, _ = world.li_patients
    serve(a, world.li, MONTH + timedelta(days=2))
    serve(b, world.li, MONTH + timedelta(days=3), outcome="not_reached")
    serve(world.wang_patients[0], world.wang, MONTH + timedelta(days=4))
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 3
    client.login("cm_li")
    page = text_of(client.get("/casemgmt/ledger"))
    assert "服务台账 （2）" in page
    assert "张*丰" in page and "欧**月" in page and "孙*空" not in page
    assert "张三丰" not in page  # masked on screen
    client.submit("/logout")
    client.login("cm_boss")
    page = text_of(client.get("/casemgmt/ledger"))
    assert "服务台账 （3）" in page and "孙*空" in page
    partial = client.htmx_get(f"/casemgmt/ledger?case_manager_id={world.wang.id}")
    html = partial.get_data(as_text=True)
    assert partial.status_code == 200 and "<html" not in html and 'hx-swap-oob="true">（1）' in html
    assert "孙*空" in html and "张*丰" not in html


def test_filters_narrow_the_list(client, world):
    a, b, c = world.li_patients
    serve(a, world.li, MONTH + timedelta(days=1), task_type="phone_followup")
    serve(b, world.li, MONTH + timedelta(days=20), outcome="declined", task_type="revisit_reminder")
    serve(c, world.li, MONTH + timedelta(days=35), task_type="education")  # next month
    client.login("cm_li")

    def shown(query: str) -> set[str]:
        page = text_of(client.get(f"/casemgmt/ledger?{query}"))
        return {p.masked_name for p in world.li_patients if p.masked_name in page}

    assert shown("month=2026-10") == {"张*丰", "欧**月"}
    assert shown("month=2026-11") == {"钱*多"}
    assert shown("date_from=2026-10-15&date_to=2026-11-30") == {"欧**月", "钱*多"}
    assert shown("task_type=revisit_reminder") == {"欧**月"}
    assert shown("outcome=declined") == {"欧**月"}
    assert shown("icd10=c34") == {"张*丰", "欧**月"}
    assert shown("icd10=C18.2") == {"钱*多"}
    assert shown("q=ZY102") == {"钱*多"}
    assert shown("q=ZY1") == {"张*丰", "欧**月", "钱*多"}
    # The masked-name prefix: the first character, then stars; a last character fixes the length.
    assert shown("q=张") == {"张*丰"}
    assert shown("q=欧**") == {"欧**月"}
    assert shown("q=欧**月") == {"欧**月"}
    assert shown("q=欧*月") == set()  # a three-character name would be 欧*X: no four-character match
    # A name typed in full is searched as its masked form: hidden characters are never compared.
    assert shown("q=张三") == shown("q=张四") == {"张*丰"}
    assert shown("q=张三丰") == shown("q=张九丰") == {"张*丰"} and shown("q=张三多") == set()
    assert shown(f"ward_id={world.other_ward.id}") == set()
    assert shown(f"ward_id={world.ward.id}") == {"张*丰", "欧**月", "钱*多"}
    assert shown("source=adhoc") == set()
    assert shown("source=task") == {"张*丰", "欧**月", "钱*多"}


def test_export_has_exactly_the_filtered_rows_and_only_masked_names(client, world):
    a, b, c = world.li_patients
    serve(a, world.li, MONTH + timedelta(days=1))
    serve(b, world.li, MONTH + timedelta(days=2), outcome="not_reached")
    serve(c, world.li, MONTH + timedelta(days=40))
    serve(world.wang_patients[0], world.wang, MONTH + timedelta(days=2))
    client.login("cm_li")
    rows = rows_of(client.get("/casemgmt/ledger/export?month=2026-10"))
    assert rows[2][:3] == ("服务日期", "患者", "住院号")
    data = rows[3:]
    assert sorted(r[1] for r in data) == sorted([a.masked_name, b.masked_name])  # scoped and filtered
    cells = " ".join(str(v) for row in rows for v in row if v is not None)
    for p in world.li_patients + world.wang_patients:
        assert p.name not in cells
    assert "筛选条件：月份：2026-10" in cells  # the filters are written on the sheet, in words
    rows = rows_of(client.get("/casemgmt/ledger/export?month=2026-10&outcome=not_reached"))
    assert [r[1] for r in rows[3:]] == [b.masked_name]
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "ledger_entry", AuditLog.action == "export")) == 2


def test_export_cells_say_what_the_ledger_shows(client, world):
    """The export reads plain rows: every column still carries the labels and names the list shows."""
    a = world.li_patients[0]
    task = serve(a, world.li, MONTH + timedelta(days=1), title="=术后随访")
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.task_id == task.id))
    expected = (datetime(2026, 10, 2), a.masked_name, a.hospital_no or "", entry.task_type_label, "=术后随访",
                entry.outcome_label, f"{entry.icd10_code} {entry.disease_name}".strip(),
                entry.ward.name if entry.ward else "", entry.case_manager.display_name, "任务清单", entry.note or None)
    client.login("cm_li")
    response = client.get("/casemgmt/ledger/export?month=2026-10")
    rows = rows_of(response)
    assert rows[3] == expected
    cell = load_workbook(io.BytesIO(response.data)).active["E4"]
    assert (cell.data_type, cell.quotePrefix) == ("s", True)  # text, never a formula
    assert load_workbook(io.BytesIO(response.data)).active.freeze_panes == "A4"


def test_a_large_ledger_export_runs_as_a_job_with_the_case_managers_own_rows(app, client, world, monkeypatch):
    from rq import SimpleWorker

    import jobs
    from portal.core.redis_conn import get_queue, get_redis
    from portal.io import background

    a, b, c = world.li_patients
    for day, patient in ((1, a), (2, b), (3, c)):
        serve(patient, world.li, MONTH + timedelta(days=day))
    serve(world.wang_patients[0], world.wang, MONTH + timedelta(days=2))
    monkeypatch.setitem(app.config, "EXPORT_JOB_ROWS", 2)
    monkeypatch.setattr(jobs, "_app", app)
    client.login("cm_li")
    response = client.get("/casemgmt/ledger/export?month=2026-10")
    assert response.status_code == 303, text_of(response)[:300]
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    try:
        queue = get_queue()
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        rows = rows_of(client.get(f"/exports/{job_id}"))
        assert sorted(r[1] for r in rows[3:]) == sorted(p.masked_name for p in (a, b, c))  # not wang's row
    finally:
        key = background._key("export", job_id)
        get_redis().delete(key, key + ":file")


def test_adhoc_service_goes_into_the_ledger(client, world):
    patient = world.li_patients[0]
    client.login("cm_li")
    assert "登记临时服务" in text_of(client.get("/casemgmt/ledger/new"))
    today = local_today()
    response = client.submit("/casemgmt/ledger/new", {
        "patient_ref": patient.hospital_no, "service_date": (today - timedelta(days=2)).isoformat(),
        "task_type": "education", "title": "门诊偶遇，讲解术后饮食", "outcome": "reached", "note": "家属在场"})
    assert response.status_code == 303, text_of(response)[-300:]
    entry = db.session.scalar(select(LedgerEntry))
    assert (entry.task_id, entry.case_manager_id, entry.patient_id) == (None, world.li.id, patient.id)
    assert (entry.icd10_code, entry.ward_id, entry.service_date) == ("C34.1", world.ward.id, today - timedelta(days=2))
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.entity_type == "ledger_entry")) == "create"
    page = text_of(client.get("/casemgmt/ledger?source=adhoc"))
    assert "门诊偶遇" in page and "临时服务" in page
    # By ID number too (find_by_ref), with the title defaulting to the service type.
    response = client.submit("/casemgmt/ledger/new", {
        "patient_ref": cm.resident_id(1), "service_date": today.isoformat(), "task_type": "phone_followup",
        "outcome": "not_reached"})
    assert response.status_code == 422  # serial 1 is nobody's ID number here


@pytest.mark.parametrize("change, message", [
    ({"service_date": "FUTURE"}, "不能晚于今天"),
    ({"service_date": "OLD"}, "31 天以内"),
    ({"service_date": "2026-02-30"}, "请填写服务日期"),
    ({"task_type": "surgery"}, "不是有效的选择"),
    ({"outcome": "rescheduled"}, "不是有效的选择"),
    ({"patient_ref": "ZY200"}, "不在您的服务范围内"),  # 王's patient in a ward 李 does not cover
    ({"patient_ref": "NOBODY"}, "未找到该患者"),
    ({"patient_ref": ""}, "请填写患者住院号"),
    ({"title": "长" * 101}, "不能超过 100 个字符"),
])
def test_bad_adhoc_input_is_refused_in_chinese_and_changes_nothing(client, world, change, message):
    today = local_today()
    data = {"patient_ref": world.li_patients[0].hospital_no, "service_date": today.isoformat(),
            "task_type": "education", "title": "宣教", "outcome": "reached", "note": ""}
    data.update(change)
    if data["service_date"] == "FUTURE":
        data["service_date"] = (today + timedelta(days=1)).isoformat()
    elif data["service_date"] == "OLD":
        data["service_date"] = (today - timedelta(days=32)).isoformat()
    client.login("cm_li")
    response = client.submit("/casemgmt/ledger/new", data)
    assert response.status_code == 422 and message in text_of(response)
    htmx = client.submit("/casemgmt/ledger/new", data, htmx=True)
    assert htmx.status_code == 422 and 'id="ledger-form"' in htmx.get_data(as_text=True)
    assert "<html" not in htmx.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_adhoc_service_rules_in_the_service(session, world):
    from portal.core.service import ServiceError

    patient = world.li_patients[0]
    day = date(2026, 11, 20)
    with pytest.raises(ServiceError, match="31 天以内"):
        ledger.record_adhoc_service(patient, world.li, service_date=day - timedelta(days=32), task_type="education",
                                    outcome="reached", today=day)
    entry = ledger.record_adhoc_service(patient, world.li, service_date=day - timedelta(days=31),
                                        task_type="education", title=" ", outcome="declined", today=day)
    assert entry.title == "健康宣教推送" and entry.outcome == "declined"
    assert not scoping.may_see_patient(world.wang_patients[0], world.li)
    assert scoping.may_see_patient(world.wang_patients[0], world.boss)


def _expected(entries, key) -> dict:
    """Per group: services, distinct patients and outcome counts, computed from the rows themselves."""
    out = defaultdict(lambda: {"services": 0, "patients": set(), "reached": 0, "not_reached": 0, "declined": 0})
    for e in entries:
        row = out[key(e)]
        row["services"] += 1
        row["patients"].add(e.patient_id)
        row[e.outcome] += 1
    return {k: {**v, "patients": len(v["patients"])} for k, v in out.items()}


def _strip(row: dict) -> dict:
    return {k: row[k] for k in ("services", "patients", "reached", "not_reached", "declined")}


def test_monthly_report_counts_per_type_manager_and_disease(client, world):
    a, b, c = world.li_patients
    d, e = world.wang_patients
    plan = [
        (a, world.li, 1, "reached", "phone_followup"), (a, world.li, 5, "not_reached", "phone_followup"),
        (a, world.li, 9, "reached", "revisit_reminder"), (b, world.li, 3, "declined", "phone_followup"),
        (c, world.li, 4, "reached", "education"), (d, world.wang, 6, "reached", "phone_followup"),
        (e, world.wang, 7, "not_reached", "accompany_discharge"), (d, world.wang, 8, "reached", "phone_followup"),
        (a, world.li, 40, "reached", "phone_followup"),  # next month: not counted
    ]
    for patient, manager, offset, outcome, task_type in plan:
        serve(patient, manager, MONTH + timedelta(days=offset - 1), outcome=outcome, task_type=task_type)
    client.login("cm_li")
    client.submit("/casemgmt/ledger/new", {"patient_ref": c.hospital_no, "service_date": local_today().isoformat(),
                                           "task_type": "other", "outcome": "reached"})  # another month
    client.submit("/logout")
    # An ad-hoc service in the report month, written through the service.
    ledger.record_adhoc_service(b, world.li, service_date=MONTH + timedelta(days=10), task_type="education",
                                outcome="reached", today=MONTH + timedelta(days=12))
    db.session.commit()
    in_month = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.service_date.between(MONTH, date(2026, 10, 31)))).all()
    assert len(in_month) == 9

    report = ledger.monthly_report(MONTH)
    by_type = _expected(in_month, lambda x: x.task_type)
    assert {r["task_type"]: _strip(r) for r in report["by_type"]} == by_type
    assert {r["case_manager_id"]: _strip(r) for r in report["by_manager"]} == _expected(
        in_month, lambda x: x.case_manager_id)
    assert {(r["icd10_code"], r["disease_name"]): _strip(r) for r in report["by_disease"]} == _expected(
        in_month, lambda x: (x.icd10_code, x.disease_name))
    assert _strip(report["total"]) == _expected(in_month, lambda x: "all")["all"]
    assert [r["label"] for r in report["by_type"]] == [TASK_TYPES[t] for t in TASK_TYPES if t in by_type]

    # A case manager's report counts their own services only.
    mine = ledger.monthly_report(MONTH, user=world.li)
    assert _strip(mine["total"]) == _expected([x for x in in_month if x.case_manager_id == world.li.id],
                                              lambda x: "all")["all"]

    client.login("cm_boss")
    page = text_of(client.get("/casemgmt/ledger/report?month=2026-10"))
    total = report["total"]
    assert f"共服务 {total['services']} 人次、{total['patients']} 人" in page
    assert "李个管" in page and "王个管" in page and "C34.1 肺恶性肿瘤" in page
    partial = client.htmx_get("/casemgmt/ledger/report?month=2026-10")
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)
    response = client.get("/casemgmt/ledger/report/export?month=2026-10")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["按服务类型", "按个案管理师", "按病种", "次日计划下达"]
    type_rows = list(wb["按服务类型"].iter_rows(values_only=True))
    assert type_rows[1][:3] == ("服务类型", "服务人次", "服务人数")
    assert {r[0]: r[1] for r in type_rows[2:-1]} == {TASK_TYPES[k]: v["services"] for k, v in by_type.items()}
    assert type_rows[-1][:3] == ("合计", total["services"], total["patients"])
    manager_rows = list(wb["按个案管理师"].iter_rows(values_only=True))
    assert Counter(r[0] for r in manager_rows[2:-1]) == Counter(["李个管", "王个管"])
    assert db.session.scalar(select(AuditLog.entity_label).where(AuditLog.action == "export")) == "月度服务报表导出"


def test_monthly_report_counts_late_plans(client, world):
    from portal.casemgmt.models import Plan

    a, b, c = world.li_patients
    cm.make_plan(MONTH + timedelta(days=2), {"patient_id": a.id}, {"patient_id": b.id, "is_late": True},
                 is_late=True)
    cm.make_plan(MONTH + timedelta(days=3), {"patient_id": c.id})
    cm.make_plan(MONTH + timedelta(days=40), {"patient_id": c.id, "is_late": True}, is_late=True)  # next month
    plans_in_month = db.session.scalars(select(Plan).where(Plan.plan_date.between(MONTH, date(2026, 10, 31)))).all()
    expected = {"days": len(plans_in_month), "late_days": sum(p.is_late for p in plans_in_month),
                "items": sum(len(p.items) for p in plans_in_month),
                "late_items": sum(i.is_late for p in plans_in_month for i in p.items)}
    assert ledger.monthly_report(MONTH)["plans"] == expected == {"days": 2, "late_days": 1, "items": 3,
                                                                 "late_items": 1}
    client.login("cm_boss")
    page = text_of(client.get("/casemgmt/ledger/report?month=2026-10"))
    assert "有计划的服务日 2 天，其中迟报（前一日 17:00 之后提交或修改）1 天；计划项目 3 项，其中迟报 1 项" in page
    sheet = load_workbook(io.BytesIO(client.get("/casemgmt/ledger/report/export?month=2026-10").data))["次日计划下达"]
    assert dict(list(sheet.iter_rows(values_only=True))[1:]) == {
        "有计划的服务日（天）": 2, "迟报的服务日（天）": 1, "计划项目（项）": 3, "迟报的计划项目（项）": 1}


def test_monthly_report_of_an_empty_month_and_bad_months(client, world):
    client.login("cm_li")
    assert "还没有服务记录" in text_of(client.get("/casemgmt/ledger/report?month=2025-01"))
    for url in ("/casemgmt/ledger/report?month=2026-13", "/casemgmt/ledger/report/export?month=2026-00",
                "/casemgmt/ledger?month=2026-13", "/casemgmt/ledger/export?month=26-1", "/casemgmt/ledger?month=abc"):
        response = client.get(url)
        assert response.status_code == 400 and "月份" in text_of(response), url


@pytest.mark.parametrize("query, message", [
    ("date_from=2026-02-30", "格式不正确"),
    ("date_from=2026-11-20&date_to=2026-11-01", "开始日期不能晚于结束日期"),
    ("task_type=surgery", "取值无效"),
    ("outcome=maybe", "取值无效"),
    ("case_manager_id=abc", "应为整数"),
    ("ward_id=-1", "超出范围"),
    ("icd10=%3Cscript%3E", "ICD-10"),
    ("q=" + "x" * 40, "过长"),
])
def test_bad_list_queries_answer_400_in_chinese(client, world, query, message):
    client.login("cm_li")
    for path in ("/casemgmt/ledger", "/casemgmt/ledger/export"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400 and message in text_of(response), (path, query)
    assert client.get("/casemgmt/ledger?page=0").status_code == 400


def test_pages_need_the_ledger_permission(client, world, tree):
    for url in ("/casemgmt/ledger", "/casemgmt/ledger/new", "/casemgmt/ledger/report", "/casemgmt/ledger/export"):
        assert client.get(url).status_code == 302
    make_user("clin", ["clinician"], tree.cardiology)
    client.login("clin")
    for url in ("/casemgmt/ledger", "/casemgmt/ledger/new", "/casemgmt/ledger/report",
                "/casemgmt/ledger/report/export"):
        assert client.get(url).status_code == 403
    assert client.submit("/casemgmt/ledger/new", {"patient_ref": "ZY100"}).status_code == 403
    client.submit("/logout")
    client.login("cm_li")
    home = client.get("/", follow_redirects=True).get_data(as_text=True)  # the sidebar
    assert "服务台账" in home and "月度服务报表" in home


def test_list_paginates_with_the_filters_kept(client, world):
    patient = world.li_patients[0]
    day = local_today()
    for i in range(23):
        ledger.record_adhoc_service(patient, world.li, service_date=day - timedelta(days=i % 5),
                                    task_type="education", title=f"宣教{i:02d}", outcome="reached", today=day)
    db.session.commit()
    client.login("cm_li")
    first = client.get("/casemgmt/ledger?task_type=education")
    assert "第 1–20 条，共 23 条" in text_of(first)
    assert "task_type=education&amp;page=2" in first.get_data(as_text=True)
    second = text_of(client.htmx_get("/casemgmt/ledger?task_type=education&page=2"))
    assert "第 21–23 条" in second


def test_a_ledger_page_costs_the_same_statements_for_two_rows_or_twenty_and_shows_every_column(client, world, app):
    """The page picks its entries first and joins names and the survey check onto them in one query: the number
    of statements does not grow with the rows, and each column says what the entry holds."""
    from portal.casemgmt.models import SatisfactionSurvey

    a, b, _ = world.li_patients
    rated = serve(a, world.li, MONTH + timedelta(days=2), title="出院随访")
    serve(b, world.li, MONTH + timedelta(days=3), outcome="declined")
    db.session.add(SatisfactionSurvey(patient_id=a.id, task_id=rated.id, survey_month=MONTH, timeliness=5,
                                      effectiveness=5, attitude=5))
    db.session.commit()
    client.login("cm_boss")
    client.get("/casemgmt/ledger")
    with statements() as seen:
        few = client.get("/casemgmt/ledger")
        small = len(seen)
        for i in range(25):
            ledger.record_adhoc_service(world.wang_patients[i % 2], world.wang, service_date=MONTH + timedelta(days=4),
                                        task_type="education", title=f"宣教{i:02d}", outcome="reached",
                                        today=MONTH + timedelta(days=4))
        db.session.commit()
        seen.clear()
        many = client.get("/casemgmt/ledger?page=2")
    assert len(seen) == small, seen
    assert "第 21–27 条，共 27 条" in text_of(many)
    html = few.get_data(as_text=True)
    row = next(r for r in html.split("<tr>") if "出院随访" in r)
    assert "张*丰" in row and "ZY100" in row and "C34.1 肺恶性肿瘤" in row and "胸外病区" in row
    assert "李个管" in row and "已评价" in row and f"task_id={rated.id}" not in row
    declined = next(r for r in html.split("<tr>") if "欧**月" in r)
    assert "患者拒绝" in declined and "记录评价" in declined
