"""Privileges: the check's decisions, applications refused before submission (one message per rule),
immutable records adjusted through the approval engine, overrides, renewal reminders, the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.approvals import services as approvals
from portal.approvals.models import ApprovalInstance, ApprovalTask
from portal.auth.models import User
from portal.core.timeutil import local_today
from portal.credentials.models import Privilege, PrivilegeAlert, PrivilegeOverride
from portal.credentials.privileges import check, services
from portal.extensions import db
from portal.notify.models import Notification
from tests import factories
from tests.conftest import text_of
from tests.privilege_factories import give_qualification, grant, make_tech


@pytest.fixture(autouse=True)
def _no_queued_alerts(app):
    """Denials noted in Redis by an earlier (rolled back) test would name rows that no longer exist."""
    from portal.core.redis_conn import get_redis

    with app.app_context():
        get_redis().delete(services._alert_key())
    app.extensions.pop("privilege_alerts_seen", None)


@pytest.fixture
def ward(session, tree):
    """A surgeon in 普外科 with a grade-3 surgery privilege, catalogue entries of every kind."""
    surgeon = factories.make_staff("外科医生", tree.surgery, employee_no="S9001", title="主治医师")
    techs = {
        "g2": make_tech("OP-G2", 2, national="47.0901"),
        "g3": make_tech("OP-G3", 3, national="51.2201", departments=[tree.surgery]),
        "g4": make_tech("OP-G4", 4),
        "endo": make_tech("OP-EN2", 2, "endoscopy"),
        "restricted": make_tech("OP-R", 2, restricted=True),
        "new": make_tech("OP-N", 1, new=True),
        "ortho": make_tech("OP-GK", 2, departments=[tree.orthopaedics]),
        "rad": make_tech("OP-RAD", 2, prerequisites=["RADIATION"]),
        "off": make_tech("OP-OFF", 1, status="disabled"),
    }
    grade = grant(surgeon, grade=3, categories=("surgery",))
    return surgeon, techs, grade


def decide(no, code, right="perform", day=None):
    return check.check(no, code, right, day or local_today())


def test_a_grade_covers_its_grade_and_below_in_its_categories_only(ward):
    _surgeon, _techs, grade = ward
    for code in ("OP-G2", "OP-G3"):
        answer = decide("S9001", code)
        assert answer.allowed and answer.privilege_id == grade.id, answer
    assert not decide("S9001", "OP-G4").allowed
    endo = decide("S9001", "OP-EN2")
    assert not endo.allowed and endo.missing == {"type": "privilege", "kind": "grade", "grade": 2,
                                                 "category": "endoscopy", "right": "perform"}


def test_restricted_and_new_technologies_are_never_covered_by_a_grade(ward):
    surgeon, _techs, _ = ward
    grant(surgeon, grade=4, categories=("surgery",))
    for code, word in (("OP-R", "限制类技术"), ("OP-N", "新技术新项目")):
        answer = decide("S9001", code)
        assert not answer.allowed and word in answer.reason and answer.missing["kind"] == "technology"
    own = grant(surgeon, tech="OP-R")
    answer = decide("S9001", "OP-R")
    assert answer.allowed and answer.privilege_id == own.id


def test_local_and_national_codes_both_answer(ward):
    assert decide("S9001", "51.2201").allowed and decide("S9001", "51.2201").technology_code == "OP-G3"
    assert decide("s9001", "op-g3").allowed  # 工号 and codes are not case-sensitive
    with pytest.raises(check.UnknownCode):
        decide("S9001", "99.9999")
    with pytest.raises(check.UnknownStaff):
        decide("NOBODY", "OP-G3")


def test_ordering_and_performing_are_separate_rights(ward):
    surgeon, _techs, _ = ward
    order_only = factories.make_staff("进修医生", surgeon.department, employee_no="S9002")
    grant(order_only, tech="OP-G4", order=True, perform=False)
    assert decide("S9002", "OP-G4", "order").allowed
    answer = decide("S9002", "OP-G4", "perform")
    assert not answer.allowed and "执行权" in answer.reason


def test_dates_outside_the_period_and_expired_records_count_at_once(ward):
    surgeon, _, grade = ward
    today = local_today()
    assert not decide("S9001", "OP-G3", day=grade.valid_from - timedelta(days=1)).allowed
    assert decide("S9001", "OP-G3", day=grade.valid_to).allowed
    late = decide("S9001", "OP-G3", day=grade.valid_to + timedelta(days=1))
    assert not late.allowed and "到期" in late.reason
    # A privilege that ended yesterday is out today, although its stored state is still "active".
    other = factories.make_staff("到期医生", surgeon.department, employee_no="S9003")
    ended = grant(other, grade=3, start=today - timedelta(days=400), end=today - timedelta(days=1))
    assert db.session.get(Privilege, ended.id).status == "expired"
    db.session.execute(Privilege.__table__.update().where(Privilege.id == ended.id).values(status="active"))
    db.session.commit()
    answer = decide("S9003", "OP-G3")
    assert not answer.allowed and answer.privilege_id == ended.id and "到期" in answer.reason


def test_a_suspended_privilege_denies_with_its_reason(ward):
    _surgeon, _, grade = ward
    db.session.execute(Privilege.__table__.update().where(Privilege.id == grade.id).values(status="suspended"))
    db.session.commit()
    answer = decide("S9001", "OP-G2")
    assert not answer.allowed and "暂停" in answer.reason and answer.privilege_id == grade.id


def test_prerequisites_must_be_held_and_valid_on_the_day(ward):
    surgeon, _, _ = ward
    today = local_today()
    answer = decide("S9001", "OP-RAD")
    assert not answer.allowed and answer.missing["type"] == "qualification" and answer.missing["code"] == "RADIATION"
    give_qualification(surgeon, "RADIATION", end=today + timedelta(days=10))
    assert decide("S9001", "OP-RAD").allowed
    # The certificate ends in 10 days: an operation booked after that is refused at once.
    later = decide("S9001", "OP-RAD", day=today + timedelta(days=11))
    assert not later.allowed and "放射工作人员证" in later.reason


def test_department_and_disabled_entries_are_refused(ward):
    assert "未获准" in decide("S9001", "OP-GK").reason
    assert "停用" in decide("S9001", "OP-OFF").reason


# --- applications -------------------------------------------------------------------------------------------

def _values(**overrides):
    today = local_today()
    values = {"kind": "technology", "technology": "OP-G3", "grade": None, "categories": [], "can_order": True,
              "can_perform": True, "valid_from": today, "valid_to": today + timedelta(days=365), "reason": "申请"}
    values.update(overrides)
    return values


@pytest.fixture
def clinician(session, tree):
    user = factories.make_user("pwclin", ["clinician"], tree.surgery, name="申请医生")
    user.staff.title = "主治医师"
    head = factories.make_user("pwhead", ["dept_head"], tree.surgery, name="外科主任")
    ma = factories.make_user("pwma", ["ma_staff"], tree.hospital, name="医务干事")
    # A head's own request goes to the office's administrator at the head's step (nobody signs their own).
    factories.make_user("pwoffice", ["ma_admin"], tree.hospital, name="医务科长")
    db.session.commit()
    return db.session.get(User, user.id), head, ma


def _refused(user, values) -> list[str]:
    with pytest.raises(services.ApplicationRefused) as refused:
        services.apply_privilege(user, user.staff, values)
    db.session.rollback()
    return refused.value.messages


def test_each_failed_rule_is_its_own_chinese_message_and_nothing_is_submitted(clinician, tree):
    user, _, _ = clinician
    make_tech("AP-OFF", 2, status="disabled")
    make_tech("AP-GK", 2, departments=[tree.orthopaedics])
    make_tech("AP-RAD", 2, prerequisites=["RADIATION", "NARCOTIC"])
    make_tech("AP-4", 4)
    services.save_rule(None, {"grade": 4, "category": "", "min_title": "副高级", "min_years": 3,
                              "trainings": "SURGERY_GRADE", "certificates": "RADIATION", "combine": "and"})
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(Privilege))
    assert _refused(user, _values(technology="AP-OFF")) == ["技术“手术AP-OFF”已在技术目录中停用，不能申请。"]
    assert _refused(user, _values(technology="AP-GK")) == [f"技术“手术AP-GK”未批准在{tree.surgery.name}开展。"]
    assert _refused(user, _values(technology="AP-RAD")) == [
        "缺少有效的放射工作人员证（“手术AP-RAD”的前置资质）。",
        "缺少有效的麻醉药品和第一类精神药品处方权（“手术AP-RAD”的前置资质）。"]
    assert _refused(user, _values(technology="AP-4")) == [
        "四级手术准入条件：职称须为副高级及以上（当前：中级）。",
        "四级手术准入条件：任现职称须满 3 年（当前：未登记任职时间）。",
        "四级手术准入条件：须完成培训并登记：手术分级资格。",
        "四级手术准入条件：须持有有效证书：放射工作人员证。"]
    assert db.session.scalar(select(func.count()).select_from(Privilege)) == before
    assert not db.session.scalar(select(func.count()).select_from(ApprovalInstance)
                                 .where(ApprovalInstance.entity_type == "privilege"))


def test_or_rules_need_one_condition_and_the_title_record_counts(clinician):
    user, _, _ = clinician
    make_tech("AP-4B", 4)
    services.save_rule(None, {"grade": 4, "category": "surgery", "min_title": "正高级", "min_years": 0,
                              "trainings": "SURGERY_GRADE", "certificates": "", "combine": "or"})
    db.session.commit()
    messages = _refused(user, _values(technology="AP-4B"))
    assert messages == ["四级手术（手术）准入条件须满足其一：职称须为正高级及以上（当前：中级）；"
                        "须完成培训并登记：手术分级资格。"]
    give_qualification(user.staff, "SURGERY_GRADE", level="四级手术")
    record = services.apply_privilege(user, user.staff, _values(technology="AP-4B"))
    db.session.commit()
    # Grade 4 goes to the technology committee after the department head and medical affairs.
    instance = db.session.get(ApprovalInstance, record.approval_id)
    assert instance.process.code == "privilege_committee"
    assert [s.name for s in instance.process.steps][-1] == "技术管理委员会审议"


def test_a_grade_application_checks_categories_and_goes_to_the_ordinary_process(clinician):
    user, _, _ = clinician
    with pytest.raises(services.ServiceError, match="至少选择一个类别"):
        services.apply_privilege(user, user.staff, _values(kind="grade", technology="", grade=2, categories=[]))
    db.session.rollback()
    record = services.apply_privilege(user, user.staff, _values(kind="grade", technology="", grade=2,
                                                                  categories=["surgery"]))
    db.session.commit()
    assert record.status == "pending"
    assert db.session.get(ApprovalInstance, record.approval_id).process.code == "privilege_grant"
    assert _refused(user, _values(kind="grade", technology="", grade=2, categories=["surgery"])) == [
        "已有相同范围的申请在审批中，请勿重复提交。"]


def test_the_department_applies_for_many_and_every_person_is_checked(clinician, tree):
    user, _, _ = clinician
    make_tech("AP-RAD2", 2, prerequisites=["RADIATION"])
    second = factories.make_staff("二号医生", tree.surgery)
    give_qualification(user.staff, "RADIATION")
    head = factories.make_user("pwsec", ["dept_secretary"], tree.surgery, name="科室秘书")
    with pytest.raises(services.ApplicationRefused) as refused:
        services.apply_bulk(head, [user.staff, second], _values(technology="AP-RAD2"))
    db.session.rollback()
    assert refused.value.messages == ["二号医生：缺少有效的放射工作人员证（“手术AP-RAD2”的前置资质）。"]
    give_qualification(second, "RADIATION")
    created = services.apply_bulk(head, [user.staff, second], _values(technology="AP-RAD2"))
    db.session.commit()
    assert {r.staff_id for r in created} == {user.staff_id, second.id}
    assert all(r.source == "department" and r.status == "pending" for r in created)


def _approve_all(record_id: int):
    """Every step of the record's approval, each by its first assignee."""
    record = db.session.get(Privilege, record_id)
    for _ in range(5):
        instance = db.session.get(ApprovalInstance, record.approval_id, populate_existing=True)
        if instance.status != "pending":
            return instance
        task = db.session.scalar(select(ApprovalTask).where(ApprovalTask.instance_id == instance.id,
                                                            ApprovalTask.status == "pending").order_by(ApprovalTask.id))
        approvals.act(task.id, db.session.get(User, task.assignee_id), "approve", "同意")
        db.session.commit()
    return db.session.get(ApprovalInstance, record.approval_id)


def test_granted_records_never_change_adjustments_chain_through_the_engine(clinician, tree, client):
    user, head, _ma = clinician
    make_tech("AD-3", 3, national="AD.3")
    record = grant(user.staff, tech="AD-3")
    frozen = {c: getattr(record, c) for c in services.FIELDS if c not in ("status",)}
    headu = db.session.get(User, head.id)
    suspension = services.adjust_privilege(record, headu, "suspend", {"reason": "质控评估"})
    db.session.commit()
    assert suspension.supersedes_id == record.id and suspension.status == "pending"
    assert decide(user.staff.employee_no, "AD-3").allowed  # the old record counts until approved
    with pytest.raises(services.ServiceError, match="已有调整在审批中"):
        services.adjust_privilege(record, headu, "revoke", {"reason": "再调"})
    db.session.rollback()
    instance = _approve_all(suspension.id)
    assert instance.status == "approved"
    assert [s.name for s in instance.process.steps] == ["科主任审核", "医务科审批"]
    old, new = db.session.get(Privilege, record.id), db.session.get(Privilege, suspension.id)
    assert old.status == "superseded" and new.status == "suspended"
    assert {c: getattr(old, c) for c in frozen} == frozen
    answer = decide(user.staff.employee_no, "AD-3")
    assert not answer.allowed and "暂停" in answer.reason
    restore = services.adjust_privilege(new, headu, "restore", {"reason": "评估合格"})
    db.session.commit()
    _approve_all(restore.id)
    assert decide(user.staff.employee_no, "AD.3").allowed
    chain = [(p.action, p.status) for p in services.queries.chain(db.session.get(Privilege, restore.id))]
    assert chain == [("apply", "superseded"), ("suspend", "superseded"), ("restore", "active")]
    client.login("pwma")
    page = text_of(client.get(f"/credentials/privileges/{record.id}"))
    assert "授权历程" in page and "暂停" in page and "恢复" in page


def test_a_superseded_record_still_answers_for_the_days_before_its_successor(clinician):
    user, head, _ = clinician
    make_tech("PA-3", 3, national="PA.3")
    today = local_today()
    record = grant(user.staff, grade=3, start=today - timedelta(days=200))
    narrowed = services.adjust_privilege(record, db.session.get(User, head.id), "narrow",
                                         {"reason": "执行例数不足", "categories": ["surgery"], "can_order": True,
                                          "can_perform": False})
    db.session.commit()
    _approve_all(narrowed.id)
    old = db.session.get(Privilege, record.id, populate_existing=True)
    assert old.status == "superseded" and old.ended_on == today
    assert old.counts_on(today - timedelta(days=1)) and not old.counts_on(today)
    no = user.staff.employee_no
    # An operation of last month, asked about (or imported) today, was covered by what held then.
    assert decide(no, "PA-3", day=today - timedelta(days=30)).allowed
    assert not decide(no, "PA-3").allowed  # the perform right is gone from today on
    assert decide(no, "PA-3", right="order").allowed
    assert not decide(no, "PA-3", day=today - timedelta(days=201)).allowed  # before the record began


def test_upgrades_and_narrowing_need_a_reason_and_a_real_change(clinician):
    user, head, _ = clinician
    headu = db.session.get(User, head.id)
    record = grant(user.staff, grade=2, categories=("surgery", "endoscopy"))
    with pytest.raises(services.ServiceError, match="请填写升级理由"):
        services.adjust_privilege(record, headu, "upgrade", {"grade": 3, "reason": ""})
    db.session.rollback()
    with pytest.raises(services.ServiceError, match="更高的级别"):
        services.adjust_privilege(record, headu, "upgrade", {"grade": 1, "reason": "升级"})
    db.session.rollback()
    narrowed = services.adjust_privilege(record, headu, "narrow", {"reason": "内镜例数不足", "categories": ["surgery"],
                                                                    "can_order": True, "can_perform": True})
    db.session.commit()
    assert narrowed.categories == "surgery" and narrowed.supersedes_id == record.id


# --- overrides, reminders ----------------------------------------------------------------------------------

def test_an_override_opens_a_follow_up_the_head_confirms(clinician, client):
    user, head, _ma = clinician
    make_tech("OV-4", 4)
    from portal.core.timeutil import utcnow

    item, created = services.record_override(staff_no=user.staff.employee_no, code="OV-4",
                                             performed_at=utcnow() - timedelta(hours=2), patient="ZY1",
                                             reason="大出血抢救", external_id="H-1")
    db.session.commit()
    assert created and item.status == "open"
    assert db.session.scalar(select(Notification.title).where(Notification.user_id == head.id)).startswith(
        "紧急超权限手术待确认")
    again, created = services.record_override(staff_no=user.staff.employee_no, code="OV-4", performed_at=utcnow(),
                                               external_id="H-1")
    assert again.id == item.id and not created
    client.login("pwma")
    assert "待确认" in text_of(client.get("/credentials/privileges/overrides"))
    db.session.execute(PrivilegeOverride.__table__.update().values(due_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert "超时未确认" in text_of(client.get("/credentials/privileges/overrides?state=overdue"))
    assert services.remind_overdue_overrides() == 1
    client.get("/logout")
    head_client = client.application.test_client()
    head_client.login("pwhead")
    refused = head_client.submit(f"/credentials/privileges/overrides/{item.id}/confirm", {"comment": ""})
    assert refused.status_code == 422
    done = head_client.submit(f"/credentials/privileges/overrides/{item.id}/confirm", {"comment": "属实，已补授权申请"})
    assert done.status_code == 303
    assert db.session.get(PrivilegeOverride, item.id, populate_existing=True).status == "confirmed"


def test_renewal_reminders_once_per_threshold_and_day(clinician):
    user, _head, _ma = clinician
    today = local_today()
    record = grant(user.staff, grade=2, end=today + timedelta(days=80))
    assert services.run_privilege_expiry(today)["reminded"] == 1
    assert services.run_privilege_expiry(today)["reminded"] == 0  # twice a day: nothing the second time
    assert services.run_privilege_expiry(today + timedelta(days=1))["reminded"] == 0  # same threshold
    assert services.run_privilege_expiry(today + timedelta(days=51))["reminded"] == 1  # 29 days left: 30
    db.session.commit()
    mine = db.session.scalars(select(Notification.title).where(Notification.user_id == user.id,
                                                               Notification.title.like("授权即将到期%"))).all()
    assert len(mine) == 2
    assert services.run_privilege_expiry(today + timedelta(days=81))["expired"] == 1
    assert db.session.get(Privilege, record.id).status == "expired"


# --- alerts ------------------------------------------------------------------------------------------------

def test_a_denial_raises_one_alert_a_day_and_the_job_notifies_once(ward, clinician, app):
    _surgeon, _, _ = ward
    _, head, ma = clinician
    app.extensions.pop("privilege_alerts_seen", None)
    answer = decide("S9001", "OP-G4")
    today = local_today()
    assert services.record_denial(answer, "OP-G4", "perform", today)
    assert not services.record_denial(answer, "OP-G4", "perform", today)  # this worker noted it already
    app.extensions.pop("privilege_alerts_seen", None)
    assert services.record_denial(answer, "OP-G4", "order", today)  # another worker notes the same key
    assert services.notify_alerts() == 1 and services.notify_alerts() == 0
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(PrivilegeAlert)) == 1
    for who in (head, ma):
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == who.id, Notification.title.like("超权限拦截%"))) == 1


# --- pages -------------------------------------------------------------------------------------------------

def test_pages_answer_for_medical_affairs_and_are_scoped_for_a_head(ward, clinician, client, tree):
    surgeon, _, grade = ward
    other = factories.make_staff("骨科医生", tree.orthopaedics)
    grant(other, grade=2)
    client.login("pwma")
    for url in ("/credentials/privileges", "/credentials/privileges?ending=500&grade=3",
                "/credentials/privileges?technology=OP-G3", f"/credentials/privileges/people/{surgeon.id}",
                "/credentials/privileges/renewals", "/credentials/privileges/alerts",
                "/credentials/privileges/overrides",
                f"/credentials/privileges/{grade.id}/renewal", "/credentials/privileges/my"):
        assert client.get(url).status_code == 200, url
    renewal = text_of(client.get(f"/credentials/privileges/{grade.id}/renewal"))
    assert "开展例数与质量结局" in renewal and "标红" in renewal
    export = client.get("/credentials/privileges/export")
    assert export.status_code == 200 and export.mimetype.endswith("spreadsheetml.sheet")
    assert "外科医生" in text_of(client.htmx_get("/credentials/privileges?q=S9001"))
    client.get("/logout")
    head = client.application.test_client()
    head.login("pwhead")
    listing = text_of(head.get("/credentials/privileges"))
    assert "外科医生" in listing and "骨科医生" not in listing
    assert head.get(f"/credentials/privileges/people/{other.id}").status_code == 404
    assert head.get("/credentials/privileges/rules").status_code == 403


def test_the_clinician_applies_on_the_phone_page_and_sees_each_problem(clinician, client):
    user, _, _ = clinician
    make_tech("PH-RAD", 2, prerequisites=["RADIATION"])
    client.login("pwclin")
    assert client.get("/credentials/privileges/my").status_code == 200
    today = local_today()
    data = {"kind": "technology", "technology": "PH-RAD", "can_order": "y", "can_perform": "y",
            "valid_to": (today + timedelta(days=300)).isoformat(), "reason": "申请"}
    refused = client.submit("/credentials/privileges/my/apply", data)
    assert refused.status_code == 422 and "缺少有效的放射工作人员证" in text_of(refused)
    give_qualification(user.staff, "RADIATION")
    done = client.submit("/credentials/privileges/my/apply", data)
    assert done.status_code == 303
    assert db.session.scalar(select(Privilege.status).where(Privilege.staff_id == user.staff_id)) == "pending"


def test_the_admission_rule_page_saves_and_refuses_unknown_codes(session, client, tree):
    factories.make_user("pwadmin", ["ma_admin"], tree.hospital)
    client.login("pwadmin")
    bad = client.submit("/credentials/privileges/rules/new", {"grade": "4", "category": "", "min_title": "",
                                                               "min_years": "0", "trainings": "NOPE",
                                                               "certificates": "", "combine": "and"})
    assert bad.status_code == 422 and "资质类型代码不存在：NOPE" in text_of(bad)
    good = client.submit("/credentials/privileges/rules/new", {"grade": "4", "category": "surgery",
                                                                "min_title": "副高级", "min_years": "3",
                                                                "trainings": "", "certificates": "",
                                                                "combine": "and", "is_active": "y"})
    assert good.status_code == 303
    assert "副高级" in text_of(client.get("/credentials/privileges/rules"))


def test_the_first_load_from_excel_checks_every_row_and_writes_a_clean_file(ward, tree):
    from portal.io import imports
    from tests.conftest import xlsx_bytes

    _surgeon, _, _ = ward
    other = factories.make_staff("导入医生", tree.surgery, employee_no="S9100")
    header = ["工号", "姓名", "技术编码", "手术级别", "类别", "开单权", "执行权", "授权起", "授权至"]
    bad = xlsx_bytes([header,
                      ["S9100", "导入医生", "OP-G4", "三级", "手术", "是", "是", "2026-01-01", "2027-01-01"],
                      ["S9100", "", "", "二级", "", "是", "是", "2026-01-01", "2027-01-01"],
                      ["NOBODY", "", "OP-G2", "", "", "是", "是", "2026-01-01", "2027-01-01"],
                      ["S9100", "", "OP-G2", "", "", "否", "否", "2026-01-01", "2025-01-01"],
                      ["S9001", "", "", "三级", "手术", "是", "是", "2026-01-01", "2027-01-01"]])
    result = imports.preview("privileges", "授权.xlsx", bad)
    messages = {row.row_number: [m for _, _, m in row.errors] for row in result.invalid}
    assert "技术编码与手术级别须填且只填一项（单项技术授权或分级授权）" in messages[2]
    assert messages[3] == ["分级授权须填写类别"]
    assert any("NOBODY" in m for m in messages[4])
    assert {"开单权与执行权至少有一项为“是”", "授权至不能早于授权起"} <= set(messages[5])
    assert messages[6] == ["该人员已有此范围的有效授权或进行中的申请，请勿重复导入"]  # S9001 holds grade 3
    with pytest.raises(services.ServiceError):
        imports.commit("privileges", "授权.xlsx", bad, "new_only", user_id=None)
    db.session.rollback()
    good = xlsx_bytes([header,
                       ["S9100", "导入医生", "51.2201", "", "", "是", "否", "2026-01-01", "2027-12-31"],
                       ["S9100", "", "", "2", "手术、内镜", "是", "是", "2026-01-01", "2027-12-31"]])
    imports.commit("privileges", "授权.xlsx", good, "new_only", user_id=None)
    db.session.commit()
    rows = db.session.execute(select(Privilege.kind, Privilege.categories, Privilege.can_perform, Privilege.status)
                              .where(Privilege.staff_id == other.id).order_by(Privilege.id)).all()
    assert rows == [("technology", "", False, "active"), ("grade", "endoscopy,surgery", True, "active")]
    assert decide("S9100", "OP-EN2").allowed  # the cache sees the bulk insert at once
