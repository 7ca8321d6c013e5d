"""Qualifications: state and validity from the dates, the expiry job (idempotent, once a day), the application
through the approval engine end to end, medical affairs' list with department scoping, state changes, types."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.approvals.models import ApprovalInstance
from portal.auth.models import User
from portal.core.audit import AuditLog
from portal.core.timeutil import local_today
from portal.credentials.models import Qualification, QualificationType
from portal.credentials.qualifications import services
from portal.extensions import db
from portal.notify.models import Notification
from tests.conftest import text_of
from tests.factories import make_staff, make_user

TODAY = local_today()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def kind(code: str) -> QualificationType:
    return db.session.scalar(select(QualificationType).where(QualificationType.code == code))


def register(staff, code: str, valid_to=None, level: str = "", number: str = "", valid_from=None) -> Qualification:
    record = services.register_qualification(staff, {
        "type_id": kind(code).id, "level": level, "number": number, "issuer": "卫健委",
        "valid_from": valid_from or TODAY - timedelta(days=400), "valid_to": valid_to})
    db.session.commit()
    return record


@pytest.fixture
def people(tree):
    ma = make_user("yiwu", ["ma_admin", "ma_staff"], tree.hospital, name="医务科李")
    head = make_user("head", ["dept_head"], tree.cardiology, name="张主任")
    other_head = make_user("ohead", ["dept_head"], tree.surgery, name="周主任")
    doctor = make_user("doc", ["clinician"], tree.cardiology, name="刘医生")
    return {"ma": ma, "head": head, "ohead": other_head, "doc": doctor}


def notes(user: User, category: str = "expiry") -> list[str]:
    return list(db.session.scalars(select(Notification.title).where(Notification.user_id == user.id,
                                                                    Notification.category == category)))


# --- services ----------------------------------------------------------------------------------------------

def test_the_standard_types_are_seeded_once(session):
    codes = set(db.session.scalars(select(QualificationType.code)))
    assert {"PRACTICE_LICENSE", "PHYSICIAN_CERT", "TITLE", "POST", "ANTIBIOTIC", "NARCOTIC", "RADIATION",
            "CONSULTATION"} <= codes
    assert kind("ANTIBIOTIC").level_list == ["非限制使用级", "限制使用级", "特殊使用级"]
    assert kind("PRACTICE_LICENSE").reminder_list == [90, 30, 7]
    before = db.session.scalar(select(func.count()).select_from(QualificationType))
    services.ensure_qualification_types()
    assert db.session.scalar(select(func.count()).select_from(QualificationType)) == before


def test_state_and_validity_follow_the_dates_between_job_runs(people):
    staff = people["doc"].staff
    ends_today = register(staff, "PRACTICE_LICENSE", TODAY)
    antibiotic = register(staff, "ANTIBIOTIC", TODAY + timedelta(days=200), level="限制使用级")
    lifelong = register(staff, "PHYSICIAN_CERT")
    assert ends_today.status == "active" and ends_today.state_on(TODAY) == "expiring"
    assert antibiotic.state_on(TODAY) == "active" and lifelong.state_on(TODAY + timedelta(days=9000)) == "active"
    held = services.valid_qualifications([staff.id], TODAY)[staff.id]
    assert {h.type_code for h in held} == {"PRACTICE_LICENSE", "ANTIBIOTIC", "PHYSICIAN_CERT"}
    assert next(h for h in held if h.type_code == "ANTIBIOTIC").level == "限制使用级"
    # Tomorrow the licence no longer counts, although nobody has run the job and it is still stored "active".
    tomorrow = services.valid_qualifications([staff.id], TODAY + timedelta(days=1))[staff.id]
    assert {h.type_code for h in tomorrow} == {"ANTIBIOTIC", "PHYSICIAN_CERT"}
    assert db.session.get(Qualification, ends_today.id).status == "active"
    assert ends_today.state_on(TODAY + timedelta(days=1)) == "expired"
    # Before it started nothing counted; an unknown person holds nothing.
    assert services.valid_qualifications([staff.id, 999999], TODAY - timedelta(days=500)) == {staff.id: [],
                                                                                              999999: []}


def test_a_renewal_supersedes_the_old_record_which_is_kept(people):
    staff = people["doc"].staff
    old = register(staff, "ANTIBIOTIC", TODAY + timedelta(days=10), level="非限制使用级")
    new = register(staff, "ANTIBIOTIC", TODAY + timedelta(days=1000), level="限制使用级")
    old = db.session.get(Qualification, old.id, populate_existing=True)
    assert old.status == "superseded" and old.ended_on == TODAY and new.supersedes_id == old.id
    held = services.valid_qualifications([staff.id])[staff.id]
    assert [(h.type_code, h.level) for h in held] == [("ANTIBIOTIC", "限制使用级")]
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "qualification", AuditLog.entity_id == str(old.id))) >= 2


def test_expiry_job_reminds_at_each_reminder_day_once_and_flips_expired(people, tree):
    doc, head, ma = people["doc"], people["head"], people["ma"]
    in_30 = register(doc.staff, "PRACTICE_LICENSE", TODAY + timedelta(days=30), number="L1")
    in_50 = register(doc.staff, "RADIATION", TODAY + timedelta(days=50))
    gone = register(doc.staff, "NARCOTIC", TODAY + timedelta(days=5))
    gone.valid_to = TODAY - timedelta(days=1)  # ended yesterday; the job has not run since
    db.session.commit()
    first = services.run_expiry(TODAY)
    db.session.commit()
    assert first == {"reminded": 2, "expired": 1}  # 30 days reached; 50 within 90; one past its end
    assert db.session.get(Qualification, gone.id).status == "expired"
    titles = notes(doc)
    assert sorted(titles) == sorted(["资质即将到期：医师执业证书", "资质即将到期：放射工作人员证",
                                     "资质已过期：麻醉药品和第一类精神药品处方权"])
    assert len(notes(head)) == 3 and len(notes(ma)) == 1  # medical affairs: one summary a day
    assert notes(people["ohead"]) == []
    # The job runs again the same day: nothing more.
    assert services.run_expiry(TODAY) == {"reminded": 0, "expired": 0}
    assert len(notes(doc)) == 3 and len(notes(ma)) == 1
    # The next day: 29 and 49 days left, no new reminder day reached.
    assert services.run_expiry(TODAY + timedelta(days=1)) == {"reminded": 0, "expired": 0}
    # Seven days before the licence's end (its last reminder), 27 before the other's (its 30-day one).
    assert services.run_expiry(TODAY + timedelta(days=23)) == {"reminded": 2, "expired": 0}
    assert db.session.get(Qualification, in_30.id).reminded_days == 7
    assert db.session.get(Qualification, in_50.id).reminded_days == 30
    assert len(notes(doc)) == 5 and len(notes(ma)) == 2


def test_outbox_carries_the_reminder_to_wecom(people, tree):
    from portal.notify.models import OutboxMessage

    holder = make_user("wecomdoc", ["clinician"], tree.cardiology, wecom_userid="wecomdoc")
    register(holder.staff, "PRACTICE_LICENSE", TODAY + timedelta(days=7))
    services.run_expiry(TODAY)
    pushed = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    assert pushed >= 1 and db.session.scalar(select(OutboxMessage.user_id)) == holder.id


# --- the application, end to end through the engine --------------------------------------------------------

def apply(client, code="PRACTICE_LICENSE", files=True, **overrides):
    month_ago = (TODAY - timedelta(days=30)).isoformat()
    data = {"type_id": kind(code).id, "level": "", "number": "110450100009999", "issuer": "卫健委",
            "issued_on": month_ago, "valid_from": month_ago,
            "valid_to": (TODAY + timedelta(days=1800)).isoformat(), "scope": "内科专业", "comment": "换证"}
    data.update(overrides)
    if files:
        data["attachments"] = (io.BytesIO(PNG), "执业证书.png")
    return client.submit("/credentials/my/apply", data, content_type="multipart/form-data")


def act(client, login: str, instance_id: int, action: str, comment: str = ""):
    client.submit("/logout")
    client.login(login)
    response = client.submit(f"/approvals/{instance_id}/act", {"action": action, "comment": comment})
    assert response.status_code == 303, text_of(response)[-300:]


def test_application_goes_head_then_medical_affairs_then_is_valid(client, people):
    old = register(people["doc"].staff, "PRACTICE_LICENSE", TODAY + timedelta(days=20), number="OLD-1")
    client.login("doc")
    response = apply(client)
    assert response.status_code == 303, text_of(response)[-400:]
    record = db.session.scalar(select(Qualification).where(Qualification.number == "110450100009999"))
    assert record.status == "pending" and record.source == "application"
    instance = db.session.get(ApprovalInstance, record.approval_id)
    assert instance.process.code == "qualification" and instance.current_step.name == "科主任审核"
    assert "待审批" in " ".join(notes(people["head"], "approval"))
    page = text_of(client.get(f"/credentials/qualifications/{record.id}"))
    assert "审批中" in page and "科主任审核" in page and "执业证书.png" in page  # the applicant sees progress
    panel = text_of(client.htmx_get("/panels/credentials.my_applications"))
    assert "医师执业证书" in panel and "审批中" in panel
    act(client, "head", instance.id, "approve", "同意")
    assert db.session.get(Qualification, record.id, populate_existing=True).status == "pending"
    act(client, "yiwu", instance.id, "approve", "核验原件无误")
    record = db.session.get(Qualification, record.id, populate_existing=True)
    assert record.status == "active" and record.supersedes_id == old.id
    assert db.session.get(Qualification, old.id, populate_existing=True).status == "superseded"
    assert "审批通过：" in " ".join(notes(people["doc"], "approval"))
    held = services.valid_qualifications([people["doc"].staff_id])[people["doc"].staff_id]
    assert [h.id for h in held] == [record.id]
    # The attachment: the applicant and medical affairs may open it; another department's head may not.
    attachment = services.attachments_of(record)[0]
    url = f"/credentials/qualifications/{record.id}/attachments/{attachment.id}"
    assert client.get(url).status_code == 200
    client.submit("/logout")
    client.login("doc")
    got = client.get(url)
    assert got.status_code == 200 and got.mimetype == "image/png" and got.data == PNG
    client.submit("/logout")
    client.login("ohead")
    assert client.get(url).status_code == 404
    assert client.get(f"/credentials/qualifications/{record.id}").status_code == 404


def test_a_returned_application_is_corrected_and_resubmitted(client, people):
    client.login("doc")
    assert apply(client).status_code == 303
    record = db.session.scalar(select(Qualification).order_by(Qualification.id.desc()))
    act(client, "head", record.approval_id, "return", "有效期填写有误")
    assert db.session.get(Qualification, record.id, populate_existing=True).status == "returned"
    client.submit("/logout")
    client.login("doc")
    assert "修改后重新提交" in text_of(client.get("/credentials/my"))
    form = client.get(f"/credentials/my/{record.id}/edit")
    assert form.status_code == 200 and "110450100009999" in form.get_data(as_text=True)
    data = {"type_id": kind("PRACTICE_LICENSE").id, "level": "", "number": "110450100009999", "issuer": "卫健委",
            "valid_from": (TODAY - timedelta(days=30)).isoformat(),
            "valid_to": (TODAY + timedelta(days=1795)).isoformat(), "comment": "已更正有效期"}
    response = client.submit(f"/credentials/my/{record.id}/edit", data)  # the attachment is already there
    assert response.status_code == 303, text_of(response)[-300:]
    record = db.session.get(Qualification, record.id, populate_existing=True)
    assert record.status == "pending" and record.valid_to == TODAY + timedelta(days=1795)
    instance = db.session.get(ApprovalInstance, record.approval_id, populate_existing=True)
    assert instance.status == "pending" and instance.step_position == 1
    # Nobody else edits it, and a pending one cannot be edited.
    assert client.submit(f"/credentials/my/{record.id}/edit", data).status_code == 409
    client.submit("/logout")
    client.login("head")
    assert client.get(f"/credentials/my/{record.id}/edit").status_code == 404
    act(client, "head", record.approval_id, "approve")
    act(client, "yiwu", record.approval_id, "reject", "证书编号与原件不符")
    assert db.session.get(Qualification, record.id, populate_existing=True).status == "rejected"
    assert services.valid_qualifications([record.staff_id])[record.staff_id] == []


@pytest.mark.parametrize(("overrides", "files", "message"), [
    ({}, False, "需要上传证书扫描件"),
    ({"valid_to": (TODAY - timedelta(days=60)).isoformat()}, True, "有效期至不能早于有效期起"),
    ({"valid_to": ""}, True, "请填写有效期至"),
    ({"valid_to": "2030-02-31"}, True, ""),
    ({"type_id": ""}, True, "请选择资质类型"),
])
def test_bad_applications_are_refused_in_chinese_and_write_nothing(client, people, overrides, files, message):
    client.login("doc")
    response = apply(client, files=files, **overrides)
    assert response.status_code == 422
    assert message in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Qualification)) == 0
    assert db.session.scalar(select(func.count()).select_from(ApprovalInstance)) == 0


def test_a_level_must_be_one_of_the_types_and_files_must_be_what_they_claim(client, people):
    client.login("doc")
    response = apply(client, "ANTIBIOTIC", files=False, level="")
    assert response.status_code == 422 and "请选择级别" in text_of(response)
    data = {"type_id": kind("PRACTICE_LICENSE").id, "valid_to": (TODAY + timedelta(days=100)).isoformat(),
            "attachments": (io.BytesIO(b"MZ\x90\x00 not a picture"), "证书.png")}
    response = client.submit("/credentials/my/apply", data, content_type="multipart/form-data")
    assert response.status_code == 422 and "内容与扩展名不符" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Qualification)) == 0


# --- medical affairs ---------------------------------------------------------------------------------------

def test_list_is_scoped_searchable_filterable_and_exported(client, people, tree):
    cardio = register(people["doc"].staff, "PRACTICE_LICENSE", TODAY + timedelta(days=20), number="C-1")
    surgeon = make_staff("王外科", tree.surgery, employee_no="S900")
    surgical = register(surgeon, "PRACTICE_LICENSE", TODAY - timedelta(days=3), number="S-1")
    register(surgeon, "PHYSICIAN_CERT", number="S-2")
    client.login("yiwu")
    page = text_of(client.get("/credentials/qualifications"))
    assert "刘医生" in page and "王外科" in page and "（3）" in page
    assert "王外科" in text_of(client.get("/credentials/qualifications?q=s900"))
    found = text_of(client.get("/credentials/qualifications?q=C-1"))
    assert "刘医生" in found and "王外科" not in found
    soon = text_of(client.get("/credentials/qualifications?expiring=30"))
    assert "刘医生" in soon and "王外科" not in soon
    expired = client.htmx_get("/credentials/qualifications?state=expired")
    assert "<html" not in expired.get_data(as_text=True) and "王外科" in text_of(expired)
    assert "刘医生" not in text_of(expired)
    assert text_of(client.get(f"/credentials/qualifications?department_id={tree.north.id}")).count("王外科") == 2
    assert client.get("/credentials/qualifications?expiring=abc").status_code == 400
    export = client.get("/credentials/qualifications/export?state=expired")
    rows = list(load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    rows = rows[next(i for i, row in enumerate(rows) if row[0] == "工号"):]
    assert export.status_code == 200 and rows[1][0] == "S900" and rows[1][11] == "已过期" and len(rows) == 2
    # A department head sees their own department only: others' records and people are 404.
    client.submit("/logout")
    client.login("head")
    page = text_of(client.get("/credentials/qualifications"))
    assert "刘医生" in page and "王外科" not in page
    assert client.get(f"/credentials/people/{surgeon.id}").status_code == 404
    assert client.get(f"/credentials/qualifications/{surgical.id}").status_code == 404
    assert client.get(f"/credentials/people/{people['doc'].staff_id}").status_code == 200
    assert client.get(f"/credentials/qualifications/{cardio.id}").status_code == 200
    expiring = text_of(client.htmx_get("/panels/credentials.expiring"))
    assert "刘医生" in expiring and "王外科" not in expiring
    # The department head may not change states nor register: 403 (no permission).
    assert client.submit(f"/credentials/qualifications/{cardio.id}/state",
                         {"action": "suspend", "reason": "x"}).status_code == 403
    assert client.get(f"/credentials/people/{people['doc'].staff_id}/new").status_code == 403


def test_permissions_of_each_page(client, people, tree):
    record = register(people["doc"].staff, "PRACTICE_LICENSE", TODAY + timedelta(days=300))
    anonymous = client.get("/credentials/qualifications")
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    client.login("doc")
    assert client.get("/credentials/qualifications").status_code == 403
    assert client.get("/credentials/qualification-types").status_code == 403
    assert client.get("/credentials/my").status_code == 200
    assert client.get(f"/credentials/qualifications/{record.id}").status_code == 200  # their own
    client.submit("/logout")
    make_user("clerk", ["ma_staff"], tree.hospital)
    client.login("clerk")
    assert client.get("/credentials/qualifications").status_code == 200
    assert client.get("/credentials/qualification-types").status_code == 403
    assert client.get("/imports/qualifications").status_code == 200


def test_medical_affairs_suspends_restores_and_revokes_with_a_reason(client, people):
    record = register(people["doc"].staff, "NARCOTIC", TODAY + timedelta(days=300))
    staff_id = people["doc"].staff_id
    client.login("yiwu")
    url = f"/credentials/qualifications/{record.id}/state"
    refused = client.submit(url, {"action": "suspend", "reason": ""})
    assert refused.status_code == 422 and db.session.get(Qualification, record.id).status == "active"
    assert client.submit(url, {"action": "suspend", "reason": "处方点评不合格"}).status_code == 303
    assert services.valid_qualifications([staff_id])[staff_id] == []
    assert "资质已暂停" in " ".join(notes(people["doc"], "credentials"))
    assert client.submit(url, {"action": "suspend", "reason": "again"}).status_code == 409
    assert client.submit(url, {"action": "restore", "reason": "整改完成"}).status_code == 303
    assert len(services.valid_qualifications([staff_id])[staff_id]) == 1
    assert client.submit(url, {"action": "revoke", "reason": "违规处方"}).status_code == 303
    record = db.session.get(Qualification, record.id, populate_existing=True)
    assert record.status == "revoked" and record.ended_on == TODAY
    history = text_of(client.get(f"/credentials/qualifications/{record.id}"))
    assert "违规处方" in history and "已撤销" in history


def test_medical_affairs_registers_a_verified_qualification(client, people):
    client.login("yiwu")
    url = f"/credentials/people/{people['doc'].staff_id}/new"
    bad = client.submit(url, {"type_id": kind("ANTIBIOTIC").id, "level": "不存在的级别",
                              "valid_to": (TODAY + timedelta(days=90)).isoformat()})
    assert bad.status_code == 422 and "请选择级别" in text_of(bad)
    good = client.submit(url, {"type_id": kind("ANTIBIOTIC").id, "level": "特殊使用级",
                               "valid_to": (TODAY + timedelta(days=900)).isoformat()})
    assert good.status_code == 303
    record = db.session.scalar(select(Qualification))
    assert record.status == "active" and record.source == "manual"
    assert "特殊使用级" in text_of(client.get(f"/credentials/people/{people['doc'].staff_id}"))


def test_types_are_configurable_by_the_medical_affairs_admin(client, people):
    client.login("yiwu")
    bad = client.submit("/credentials/qualification-types/new", {
        "code": "ECMO", "name": "ECMO 上岗证", "category": "practice", "expires": "y", "reminder_days": "abc"})
    assert bad.status_code == 422 and "提醒天数" in text_of(bad)
    clash = client.submit("/credentials/qualification-types/new", {
        "code": "ECMO", "name": "医师执业证书", "category": "practice", "reminder_days": ""})
    assert clash.status_code == 422 and "已有名称" in text_of(clash)
    good = client.submit("/credentials/qualification-types/new", {
        "code": "ecmo", "name": "ECMO 上岗证", "category": "practice", "expires": "y", "reminder_days": "60，14",
        "levels": "初级\n高级\n", "is_active": "y"})
    assert good.status_code == 303
    made = kind("ECMO")
    assert made.reminder_list == [60, 14] and made.level_list == ["初级", "高级"] and not made.requires_attachment
    assert "ECMO 上岗证" in text_of(client.get("/credentials/qualification-types"))


def test_resubmitting_from_the_approval_page_makes_the_application_pending_again(client, people):
    client.login("doc")
    assert apply(client).status_code == 303
    record = db.session.scalar(select(Qualification).order_by(Qualification.id.desc()))
    act(client, "head", record.approval_id, "return", "请补充说明")
    client.submit("/logout")
    client.login("doc")
    response = client.submit(f"/approvals/{record.approval_id}/resubmit", {"comment": "原件已交医务科"})
    assert response.status_code in (200, 303), text_of(response)[-300:]
    assert db.session.get(Qualification, record.id, populate_existing=True).status == "pending"


def test_the_expiry_job_runs_through_the_queue_and_a_second_run_changes_nothing(app, people):
    from rq import SimpleWorker

    import jobs
    from jobs.credentials import remind_qualification_expiry
    from portal.core.redis_conn import get_queue

    register(people["doc"].staff, "PRACTICE_LICENSE", TODAY + timedelta(days=30))
    jobs.use_app(app)
    queue = get_queue()
    results = []
    for _ in range(2):
        job = queue.enqueue(remind_qualification_expiry)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        job.refresh()
        assert job.is_finished, job.latest_result()
        results.append(job.return_value())
    assert results == [{"reminded": 1, "expired": 0}, {"reminded": 0, "expired": 0}]
    assert len(notes(people["doc"])) == 1


def test_the_level_field_follows_the_chosen_type(client, people):
    client.login("doc")
    part = client.htmx_get(f"/credentials/qualification-levels?type_id={kind('ANTIBIOTIC').id}")
    html = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in html
    assert "限制使用级" in html and "四级手术" not in html and 'id="field-level"' in html
    plain = text_of(client.htmx_get(f"/credentials/qualification-levels?type_id={kind('PRACTICE_LICENSE').id}"))
    assert "该资质没有级别" in plain and "限制使用级" not in plain
    assert client.htmx_get("/credentials/qualification-levels?type_id=abc").status_code == 400


@pytest.mark.postgres_only
def test_the_list_filters_and_the_validity_answer_read_by_index(people):
    from sqlalchemy import text

    from portal.credentials.models.qualifications import valid_on
    from portal.credentials.qualifications import queries
    from tests.integration.test_scale_queries import plan_of

    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the planner's choice of index is PostgreSQL's")
    template = register(people["doc"].staff, "PRACTICE_LICENSE", TODAY + timedelta(days=100))
    db.session.execute(text("""
        INSERT INTO qualifications (staff_id, type_id, level, number, issuer, scope, note, status, source, valid_from,
                                    valid_to, created_at, updated_at)
        SELECT t.staff_id, t.type_id, '', 'N' || g, '', '', '', CASE WHEN g % 7 = 0 THEN 'superseded' ELSE 'active' END,
               'import', CAST(:today AS date) - g % 1800, CAST(:today AS date) - g % 1800 + 1500, now(), now()
        FROM qualifications t, generate_series(1, 20000) g WHERE t.id = :id"""), {"today": TODAY, "id": template.id})
    db.session.execute(text("ANALYZE qualifications"))
    principal = people["ma"].principal
    soon = plan_of(queries.list_query(principal, queries.Filters(expiring_days=30), TODAY).limit(20))
    assert "ix_qualifications_status_valid_to" in soon or "ix_qualifications_valid_to_id" in soon
    default = plan_of(queries.list_query(principal, queries.Filters(), TODAY).limit(20))
    assert "ix_qualifications_valid_to_id" in default and "Sort" not in default  # read in order, 20 rows
    held = plan_of(select(Qualification.id).where(Qualification.staff_id.in_([1, 2, 3]), valid_on(TODAY)))
    assert "ix_qualifications_staff_id_status" in held
