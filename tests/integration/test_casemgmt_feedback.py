"""Satisfaction surveys and adverse events / complaints: validation, one survey per patient-month,
the event lifecycle (open -> handling -> closed, read-only once closed), scoping, exports, notifications."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.casemgmt.feedback import services as feedback
from portal.casemgmt.models import AdverseEvent, CareTask, SatisfactionSurvey
from portal.casemgmt.tasks import services as tasks
from portal.core.audit import AuditLog
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.notify.models import Notification
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user


@dataclass
class World:
    ward: object
    li: object
    wang: object
    boss: object
    boss2: object
    mine: object  # 李's patient
    theirs: object  # 王's patient


@pytest.fixture
def world(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    other_ward = cm.make_ward("骨科病区", tree.orthopaedics)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.orthopaedics, "王个管")
    boss = make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="赵组长")
    boss2 = make_user("cm_boss2", ["cm_supervisor"], tree.orthopaedics, name="钱组长")
    cm.cover(ward, li)
    cm.cover(other_ward, wang)
    mine = cm.make_patient("张三丰", hospital_no="ZY100")
    cm.enrol(mine, case_manager=li, ward=ward)
    theirs = cm.make_patient("孙悟空", hospital_no="ZY200")
    cm.enrol(theirs, case_manager=wang, ward=other_ward, icd10_code="M16.1", disease_name="髋关节骨关节病")
    return World(ward, li, wang, boss, boss2, mine, theirs)


def done_task(patient, manager, day: date | None = None, score: int | None = None) -> CareTask:
    day = day or local_today()
    enrolment = patient.active_enrolment
    task = CareTask(due_date=day, first_due_date=day, case_manager_id=manager.id, patient_id=patient.id,
                    enrolment_id=enrolment.id, source="plan", task_type="phone_followup", title="出院后电话随访",
                    ward_id=enrolment.ward_id)
    db.session.add(task)
    db.session.flush()
    tasks.complete_task(task, manager, outcome="reached", score=score, today=day)
    db.session.commit()
    return task


def surveys() -> int:
    return db.session.scalar(select(func.count()).select_from(SatisfactionSurvey))


def month_survey(**change) -> dict:
    return {"patient_ref": "ZY100", "survey_month": f"{local_today():%Y-%m}", "timeliness": "5",
            "effectiveness": "4", "attitude": "5", "comment": "很满意", **change}


# --- satisfaction surveys ---------------------------------------------------------------------------------


def test_one_month_survey_per_patient_and_month(client, world):
    client.login("cm_li")
    assert "录入月度满意度调查" in text_of(client.get("/casemgmt/surveys/new"))
    response = client.submit("/casemgmt/surveys/new", month_survey())
    assert response.status_code == 303, text_of(response)[-300:]
    survey = db.session.scalar(select(SatisfactionSurvey))
    assert (survey.task_id, survey.survey_month, survey.attitude) == (None, local_today().replace(day=1), 5)
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.entity_type == "satisfaction_survey")) == "create"
    again = client.submit("/casemgmt/surveys/new", month_survey(timeliness="1"))
    assert again.status_code == 422 and "每位患者每月只录入一次" in text_of(again)
    last_month = (local_today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert client.submit("/casemgmt/surveys/new", month_survey(survey_month=last_month)).status_code == 303
    assert surveys() == 2
    # A per-service survey in the same month is something else: allowed alongside.
    task = done_task(world.mine, world.li)
    assert client.submit(f"/casemgmt/surveys/new?task_id={task.id}", month_survey(patient_ref="")).status_code == 303
    assert surveys() == 3


def test_the_service_refuses_a_second_month_survey(session, world):
    day = date(2026, 11, 5)
    feedback.record_survey(world.mine, survey_month=date(2026, 11, 20), timeliness=3, effectiveness=3, attitude=3,
                           today=day)
    with pytest.raises(ServiceError, match="只录入一次"):
        feedback.record_survey(world.mine, survey_month=date(2026, 11, 1), timeliness=5, effectiveness=5,
                               attitude=5, today=day)
    with pytest.raises(ServiceError, match="晚于本月"):
        feedback.record_survey(world.mine, survey_month=date(2026, 12, 1), timeliness=5, effectiveness=5,
                               attitude=5, today=day)
    with pytest.raises(ServiceError, match="1–5"):
        feedback.record_survey(world.theirs, survey_month=day, timeliness=5, effectiveness=True, attitude=5, today=day)


@pytest.mark.parametrize("change, message, status", [
    ({"timeliness": "0"}, "请为服务及时性评分", 422),
    ({"effectiveness": "6"}, "评分应为 1–5 分", 422),
    ({"attitude": "abc"}, "请为服务态度评分", 422),
    ({"attitude": ""}, "请为服务态度评分", 422),
    ({"survey_month": "2026-13"}, "月份“2026-13”不存在", 422),
    ({"survey_month": "FUTURE"}, "不能晚于本月", 422),
    ({"survey_month": "2020-01"}, "近 12 个月", 422),
    ({"patient_ref": "ZY200"}, "不在您的服务范围内", 422),
    ({"patient_ref": ""}, "请填写患者住院号", 422),
    ({"comment": "长" * 501}, "不能超过 500 个字符", 422),
])
def test_bad_survey_input_is_refused_and_changes_nothing(client, world, change, message, status):
    if change.get("survey_month") == "FUTURE":
        change["survey_month"] = (local_today().replace(day=28) + timedelta(days=7)).strftime("%Y-%m")
    client.login("cm_li")
    response = client.submit("/casemgmt/surveys/new", month_survey(**change))
    assert response.status_code == status and message in text_of(response)
    htmx = client.submit("/casemgmt/surveys/new", month_survey(**change), htmx=True)
    assert htmx.status_code == status and 'id="survey-form"' in htmx.get_data(as_text=True)
    assert surveys() == 0


def test_per_service_survey_from_the_ledger(client, world):
    task = done_task(world.mine, world.li)
    quick = done_task(world.mine, world.li, score=4)  # the quick score at completion is a survey already
    client.login("cm_li")
    ledger_page = client.get("/casemgmt/ledger").get_data(as_text=True)
    assert f"/casemgmt/surveys/new?task_id={task.id}" in ledger_page
    assert f"/casemgmt/surveys/new?task_id={quick.id}" not in ledger_page and "已评价" in ledger_page
    form = text_of(client.get(f"/casemgmt/surveys/new?task_id={task.id}"))
    assert "服务满意度评价" in form and "张*丰" in form
    data = {"timeliness": "4", "effectiveness": "4", "attitude": "5", "comment": ""}
    assert client.submit(f"/casemgmt/surveys/new?task_id={task.id}", data).status_code == 303
    survey = db.session.scalar(select(SatisfactionSurvey).where(SatisfactionSurvey.task_id == task.id))
    assert survey.patient_id == world.mine.id and survey.survey_month == local_today().replace(day=1)
    again = client.submit(f"/casemgmt/surveys/new?task_id={task.id}", data)
    assert again.status_code == 422 and "已有满意度评价" in text_of(again)
    refused = client.submit(f"/casemgmt/surveys/new?task_id={quick.id}", data)
    assert refused.status_code == 422
    assert surveys() == 2
    # Another manager's task is not found; a bad id is a 400/404; an open task cannot be rated.
    other = done_task(world.theirs, world.wang).id
    assert client.get(f"/casemgmt/surveys/new?task_id={other}").status_code == 404
    assert client.submit(f"/casemgmt/surveys/new?task_id={other}", data).status_code == 404
    assert client.get("/casemgmt/surveys/new?task_id=abc").status_code == 400
    assert client.get("/casemgmt/surveys/new?task_id=99999999").status_code == 404
    open_task = CareTask(due_date=local_today(), first_due_date=local_today(), case_manager_id=world.li.id,
                         patient_id=world.mine.id, source="plan", task_type="education", title="宣教")
    db.session.add(open_task)
    db.session.commit()
    open_id = open_task.id
    response = client.submit(f"/casemgmt/surveys/new?task_id={open_id}", data)
    assert response.status_code == 422 and "只能评价已完成的服务" in text_of(response)
    assert surveys() == 2


def test_survey_list_is_scoped_filtered_and_exported_masked(client, world):
    day = local_today()
    feedback.record_survey(world.mine, survey_month=day, timeliness=5, effectiveness=4, attitude=3, comment="好")
    feedback.record_survey(world.theirs, survey_month=day, timeliness=2, effectiveness=2, attitude=2)
    done_task(world.mine, world.li, score=5)
    db.session.commit()
    client.login("cm_li")
    page = text_of(client.get("/casemgmt/surveys"))
    assert "满意度调查 （2）" in page and "张*丰" in page and "孙*空" not in page
    assert "及时性 5.00" in page  # (5 + 5) / 2
    partial = client.htmx_get("/casemgmt/surveys?kind=month")
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)
    assert "（1）" in partial.get_data(as_text=True)
    client.submit("/logout")
    client.login("cm_boss")
    assert "满意度调查 （3）" in text_of(client.get("/casemgmt/surveys"))
    page = text_of(client.get(f"/casemgmt/surveys?case_manager_id={world.wang.id}"))
    assert "孙*空" in page and "张*丰" not in page and "王个管" in page
    response = client.get(f"/casemgmt/surveys/export?month={day:%Y-%m}&kind=month")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[2][:3] == ("调查月份", "患者", "类型")
    assert sorted(r[1] for r in rows[3:]) == ["孙*空", "张*丰"]
    by_patient = {r[1]: r for r in rows[3:]}
    assert by_patient["张*丰"][4:8] == (5, 4, 3, 4.0) and by_patient["张*丰"][8] == "李个管"
    cells = " ".join(str(v) for row in rows for v in row if v is not None)
    assert "张三丰" not in cells and "孙悟空" not in cells
    for url in ("/casemgmt/surveys?month=2026-13", "/casemgmt/surveys?kind=x", "/casemgmt/surveys/export?month=x",
                "/casemgmt/surveys?case_manager_id=abc"):
        response = client.get(url)
        assert response.status_code == 400 and ("参数" in text_of(response) or "月份" in text_of(response)), url


# --- adverse events and complaints -------------------------------------------------------------------------


def event_form(**change) -> dict:
    return {"kind": "complaint", "severity": "mild", "occurred_on": local_today().isoformat(), "patient_ref": "ZY100",
            "description": "家属投诉随访电话打扰休息", **change}


def register(client, **change) -> AdverseEvent:
    response = client.submit("/casemgmt/events/new", event_form(**change))
    assert response.status_code == 303, text_of(response)[-300:]
    return db.session.scalar(select(AdverseEvent).order_by(AdverseEvent.id.desc()))


def test_event_lifecycle_open_handling_closed_then_read_only(client, world):
    client.login("cm_li")
    event = register(client)
    assert (event.status, event.case_manager_id, event.patient_id) == ("open", world.li.id, world.mine.id)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0  # mild: nobody is paged
    page = text_of(client.get(f"/casemgmt/events/{event.id}"))
    assert "家属投诉随访电话打扰休息" in page and "张*丰" in page and "待处理" in page
    # Closing needs the handling written down.
    response = client.submit(f"/casemgmt/events/{event.id}/close", {"handling": "  "}, htmx=True)
    assert response.status_code == 422 and "关闭前请填写处理经过与结果" in text_of(response)
    assert db.session.get(AdverseEvent, event.id, populate_existing=True).status == "open"
    response = client.submit(f"/casemgmt/events/{event.id}/update", {"handling": "", "status": "handling"})
    assert response.status_code == 422 and "请填写处理经过" in text_of(response)
    response = client.submit(f"/casemgmt/events/{event.id}/update",
                             {"handling": "已电话致歉，调整随访时段", "status": "handling"}, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="event-body"' in html and "<html" not in html
    event = db.session.get(AdverseEvent, event.id, populate_existing=True)
    assert (event.status, event.handling) == ("handling", "已电话致歉，调整随访时段")
    response = client.submit(f"/casemgmt/events/{event.id}/update", {"handling": "x", "status": "open"})
    assert response.status_code == 422 and "不能退回待处理" in text_of(response)
    response = client.submit(f"/casemgmt/events/{event.id}/update", {"handling": "x", "status": "closed"})
    assert response.status_code == 422
    # Closing keeps the handling already written when none is given.
    response = client.submit(f"/casemgmt/events/{event.id}/close", {"handling": ""})
    assert response.status_code == 303
    event = db.session.get(AdverseEvent, event.id, populate_existing=True)
    assert event.status == "closed" and event.closed_at is not None and event.handling == "已电话致歉，调整随访时段"
    page = text_of(client.get(f"/casemgmt/events/{event.id}"))
    assert "已关闭，只能查看" in page and "保存处理情况" not in page
    assert "登记" in page and "更新处理情况" in page and "关闭" in page  # the trail
    for url, data in ((f"/casemgmt/events/{event.id}/update", {"handling": "改", "status": "handling"}),
                      (f"/casemgmt/events/{event.id}/close", {"handling": "改"})):
        response = client.submit(url, data, htmx=True)
        assert response.status_code == 409 and "已关闭" in text_of(response)
    event = db.session.get(AdverseEvent, event.id, populate_existing=True)
    assert event.handling == "已电话致歉，调整随访时段"
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "adverse_event")
                                 .order_by(AuditLog.id)).all()
    assert actions == ["create", "update", "close"]
    with pytest.raises(ServiceError) as refused:
        feedback.close_event(event, "再次关闭")
    assert refused.value.status == 409


def test_severe_event_notifies_the_supervisors(client, world):
    client.login("cm_li")
    event = register(client, kind="adverse_event", severity="severe", description="陪同出院途中患者跌倒")
    notes = db.session.scalars(select(Notification).where(Notification.category == "casemgmt")).all()
    assert sorted(n.user_id for n in notes) == sorted([world.boss.id, world.boss2.id])
    assert "重度不良事件" in notes[0].title and notes[0].link == f"/casemgmt/events/{event.id}"
    assert "张*丰" in notes[0].body and "张三丰" not in notes[0].body
    register(client, severity="critical", patient_ref="")
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 4
    register(client, severity="moderate")
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 4


def test_events_are_scoped_to_ones_patients_and_registrations(client, world):
    client.login("cm_li")
    mine = register(client, description="李登记的投诉")
    client.submit("/logout")
    client.login("cm_wang")
    theirs = register(client, patient_ref="ZY200", description="王登记的投诉")
    assert theirs.case_manager_id == world.wang.id
    assert client.get(f"/casemgmt/events/{mine.id}").status_code == 404
    response = client.submit(f"/casemgmt/events/{mine.id}/close", {"handling": "越权关闭"})
    assert response.status_code == 404
    assert client.submit(f"/casemgmt/events/{mine.id}/update", {"handling": "x", "status": "handling"}
                         ).status_code == 404
    assert db.session.get(AdverseEvent, mine.id, populate_existing=True).status == "open"
    page = text_of(client.get("/casemgmt/events"))
    assert "王登记的投诉" in page and "李登记的投诉" not in page
    # Registering for a patient one cannot see is refused like an unknown one.
    response = client.submit("/casemgmt/events/new", event_form(patient_ref="ZY100"))
    assert response.status_code == 422 and "不在您的服务范围内" in text_of(response)
    client.submit("/logout")
    client.login("cm_boss")
    page = text_of(client.get("/casemgmt/events"))
    assert "不良事件与投诉 （2）" in page
    assert client.get(f"/casemgmt/events/{mine.id}").status_code == 200


def test_event_list_filters_and_export(client, world):
    client.login("cm_li")
    register(client, description="轻度投诉")
    severe = register(client, kind="adverse_event", severity="severe", description="重度事件")
    last_month = local_today().replace(day=1) - timedelta(days=3)
    register(client, occurred_on=last_month.isoformat(), description="上月投诉")
    client.submit(f"/casemgmt/events/{severe.id}/update", {"handling": "已上报", "status": "handling"})

    def shown(query: str) -> list[str]:
        page = text_of(client.get(f"/casemgmt/events?{query}"))
        return [d for d in ("轻度投诉", "重度事件", "上月投诉") if d in page]

    assert shown("kind=adverse_event") == ["重度事件"]
    assert shown("severity=mild") == ["轻度投诉", "上月投诉"]
    assert shown("status=handling") == ["重度事件"]
    assert shown(f"month={last_month:%Y-%m}") == ["上月投诉"]
    response = client.get(f"/casemgmt/events/export?kind=complaint&month={local_today():%Y-%m}")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[2][:3] == ("类别", "发生日期", "患者")
    assert [(r[0], r[2], r[5]) for r in rows[3:]] == [("投诉", "张*丰", "轻度投诉")]
    assert "张三丰" not in " ".join(str(v) for row in rows for v in row if v is not None)


@pytest.mark.parametrize("change, message", [
    ({"occurred_on": "FUTURE"}, "不能晚于今天"),
    ({"occurred_on": "2026-02-30"}, "请填写发生日期"),
    ({"occurred_on": "2020-01-01"}, "一年以内"),
    ({"kind": "accident"}, "不是有效的选择"),
    ({"severity": "fatal"}, "不是有效的选择"),
    ({"description": " "}, "请填写事件经过"),
    ({"patient_ref": "NOBODY"}, "未找到该患者"),
])
def test_bad_event_input_is_refused_and_changes_nothing(client, world, change, message):
    if change.get("occurred_on") == "FUTURE":
        change["occurred_on"] = (local_today() + timedelta(days=1)).isoformat()
    client.login("cm_li")
    response = client.submit("/casemgmt/events/new", event_form(**change))
    assert response.status_code == 422 and message in text_of(response)
    htmx = client.submit("/casemgmt/events/new", event_form(**change), htmx=True)
    assert htmx.status_code == 422 and 'id="event-form"' in htmx.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AdverseEvent)) == 0


def test_bad_event_urls_and_queries(client, world):
    client.login("cm_li")
    for url in ("/casemgmt/events/abc", "/casemgmt/events/0", "/casemgmt/events/99999999999",
                "/casemgmt/events/999999"):
        response = client.get(url)
        assert response.status_code == 404 and "页面不存在" in text_of(response), url
    assert client.submit("/casemgmt/events/999999/close", {"handling": "x"}).status_code == 404
    for query in ("severity=x", "kind=x", "status=x", "month=2026-13", "page=abc"):
        response = client.get(f"/casemgmt/events?{query}")
        assert response.status_code == 400, query


def test_pages_need_their_permissions(client, world, tree):
    for url in ("/casemgmt/events", "/casemgmt/events/new", "/casemgmt/surveys", "/casemgmt/surveys/new"):
        assert client.get(url).status_code == 302
    make_user("issuer", ["plan_issuer"], tree.hospital)
    client.login("issuer")  # the plan issuer reads the ledger and surveys but handles no events
    assert client.get("/casemgmt/surveys").status_code == 200
    assert client.get("/casemgmt/events").status_code == 403
    assert client.submit("/casemgmt/events/new", event_form()).status_code == 403
    client.submit("/logout")
    make_user("clin", ["clinician"], tree.cardiology)
    client.login("clin")
    assert client.get("/casemgmt/surveys").status_code == 403
    assert client.submit("/casemgmt/surveys/new", month_survey()).status_code == 403
    client.submit("/logout")
    client.login("cm_li")
    home = client.get("/", follow_redirects=True).get_data(as_text=True)  # the sidebar
    assert "满意度调查" in home and "不良事件与投诉" in home
