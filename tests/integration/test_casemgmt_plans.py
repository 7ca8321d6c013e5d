"""The next-day plan: cutoff (17:00 Beijing), revisions, late flags, replace, unknown and closed patients,
duplicates, limits, the task lists following a revised plan, and the plan pages."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.casemgmt.models import CareTask, Plan, PlanItem
from portal.casemgmt.patients import services as patients
from portal.casemgmt.plans import clock as plan_clock
from portal.casemgmt.plans import matching as plan_matching
from portal.casemgmt.plans import services as plans
from portal.casemgmt.plans import validation as plan_validation
from portal.casemgmt.tasks import services as tasks
from portal.core import crypto
from portal.core.audit import AuditLog
from portal.core.service import ServiceError
from portal.extensions import db
from portal.notify.models import Notification
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user

DAY = date(2026, 11, 24)
BEFORE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 16:00 in Beijing on the day before
AFTER = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # 17:30 in Beijing: late


@pytest.fixture
def world(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    cm.cover(ward, li)
    issuer = make_user("issuer", ["plan_issuer"], tree.surgery, name="计划员")
    zhang = cm.make_patient("张三丰", hospital_no="ZY001")
    wang = cm.make_patient("王五", hospital_no="ZY002")
    return {"ward": ward, "li": li, "issuer": issuer, "zhang": zhang, "wang": wang}


def item(ext: str, patient: str = "ZY001", **extra) -> dict:
    return {"external_id": ext, "patient": patient, "patient_name": "张三丰", "task_type": "accompany_admission",
            "ward": "胸外病区", "bed": "12", "time_slot": "morning", **extra}


def plan_row() -> Plan:
    return db.session.scalar(select(Plan).where(Plan.plan_date == DAY).execution_options(populate_existing=True))


def items_by_id() -> dict[str, PlanItem]:
    return {i.external_id: i for i in db.session.scalars(
        select(PlanItem).order_by(PlanItem.id).execution_options(populate_existing=True))}


# ---------------------------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------------------------


def test_the_cutoff_is_17_00_beijing_on_the_day_before_and_configurable(app, session):
    assert plan_clock.cutoff_for(DAY) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert not plan_clock.is_late(DAY, datetime(2026, 11, 23, 8, 59, tzinfo=UTC))
    assert not plan_clock.is_late(DAY, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert plan_clock.is_late(DAY, datetime(2026, 11, 23, 9, 1, tzinfo=UTC))
    app.config["PLAN_CUTOFF"] = "18:30"
    try:
        assert plan_clock.cutoff_for(DAY) == datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
        assert not plan_clock.is_late(DAY, AFTER)
    finally:
        app.config["PLAN_CUTOFF"] = "17:00"


def test_on_time_submission_then_identical_resubmission_changes_nothing(session, world):
    first = plans.submit_plan(DAY, [item("A1"), item("A2", "ZY002", task_type="phone_followup")], source="api",
                              now=BEFORE)
    db.session.commit()
    assert (first.created, first.updated, first.unchanged, first.late) == (2, 0, 0, False)
    plan = plan_row()
    assert (plan.revision, plan.is_late) == (1, False)
    assert plan.first_submitted_at == plan.last_submitted_at == BEFORE
    audits = db.session.scalar(select(func.count()).select_from(AuditLog))
    again = plans.submit_plan(DAY, [item("A2", "ZY002", task_type="电话随访"), item("A1")], source="api", now=AFTER)
    db.session.commit()
    assert (again.created, again.updated, again.unchanged, again.changed) == (0, 0, 2, False)
    plan = plan_row()
    # Nothing changed: no revision, no late flag (even after the cutoff), no timestamps, no audit rows.
    assert (plan.revision, plan.is_late, plan.last_submitted_at) == (1, False, BEFORE)
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audits
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 2


def test_a_change_after_the_cutoff_is_a_late_revision(session, world):
    plans.submit_plan(DAY, [item("A1"), item("A2", "ZY002")], source="api", now=BEFORE)
    db.session.commit()
    result = plans.submit_plan(DAY, [item("A1"), item("A2", "ZY002", bed="15"), item("A3", "ZY002",
                                                                                      task_type="education")],
                               source="api", now=AFTER)
    db.session.commit()
    assert (result.created, result.updated, result.unchanged, result.late) == (1, 1, 1, True)
    plan = plan_row()
    assert (plan.revision, plan.is_late, plan.first_submitted_at, plan.last_submitted_at) == (2, True, BEFORE, AFTER)
    found = items_by_id()
    assert {k: v.is_late for k, v in found.items()} == {"A1": False, "A2": True, "A3": True}
    assert found["A2"].bed == "15" and found["A2"].submitted_at == AFTER and found["A1"].submitted_at == BEFORE
    # A first submission after the cutoff is a late plan from the start.
    late = plans.submit_plan(DAY + timedelta(days=1), [item("B1")], source="form",
                             now=datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    assert late.plan.is_late and late.items[0].is_late and late.plan.revision == 1


def test_replace_cancels_what_is_missing_and_never_deletes(session, world):
    plans.submit_plan(DAY, [item("A1"), item("A2", "ZY002"), item("A3", "ZY002", task_type="education")],
                      source="api", now=BEFORE)
    result = plans.submit_plan(DAY, [item("A1")], source="api", replace=True, now=BEFORE)
    db.session.commit()
    assert (result.unchanged, result.cancelled) == (1, 2)
    found = items_by_id()
    assert len(found) == 3 and [k for k, v in found.items() if v.is_cancelled] == ["A2", "A3"]
    assert plan_row().revision == 2
    # Sending a cancelled item again brings it back.
    back = plans.submit_plan(DAY, [item("A2", "ZY002")], source="api", now=BEFORE)
    assert back.updated == 1 and not items_by_id()["A2"].is_cancelled
    # Cancelling one item by hand after the cutoff: kept, flagged late.
    plans.cancel_item(items_by_id()["A1"], now=AFTER)
    db.session.commit()
    a1 = items_by_id()["A1"]
    assert a1.is_cancelled and a1.is_late and plan_row().is_late
    with pytest.raises(ServiceError, match="已取消"):
        plans.cancel_item(a1, now=AFTER)


def test_unknown_patients_are_kept_masked_listed_and_matched_later(session, world):
    number = cm.resident_id(901)
    result = plans.submit_plan(DAY, [item("U1", number, patient_name="赵六"), item("U2", "ZY999", patient_name="孙七"),
                                     item("K1")], source="api", now=BEFORE)
    db.session.commit()
    assert [i.external_id for i in result.unknown] == ["U1", "U2"]
    u1 = items_by_id()["U1"]
    # The ID number is not kept in clear text: a masked copy to show, the keyed hash to match it later.
    assert u1.patient_id is None and number not in u1.patient_ref
    assert u1.patient_ref == number[:4] + "*" * 10 + number[-4:]
    assert u1.patient_ref_hash == crypto.lookup_hash(number)
    assert [i.external_id for i in plan_matching.unknown_items(plan_row())] == ["U1", "U2"]
    # The patient is registered afterwards: the item is matched by the hash at once.
    zhao = cm.make_patient("赵六", id_number=number, now=BEFORE)
    assert plan_matching.rematch_unknown(DAY, now=BEFORE) == 0  # nothing left to match
    db.session.commit()
    assert items_by_id()["U1"].patient_id == zhao.id
    # The issuer picks the patient for the other one by hand; resubmitting the item keeps that choice.
    sun = cm.make_patient("孙七", hospital_no="ZY100")
    plan_matching.resolve_unknown(items_by_id()["U2"], sun, now=BEFORE)
    db.session.commit()
    again = plans.submit_plan(DAY, [item("U2", "ZY999", patient_name="孙七")], source="api", now=BEFORE)
    assert again.unchanged == 1 and items_by_id()["U2"].patient_id == sun.id
    with pytest.raises(ServiceError, match="已确定"):
        plan_matching.resolve_unknown(items_by_id()["U2"], sun, now=BEFORE)
    assert plan_matching.unknown_items(plan_row()) == []


def test_rematch_patient_attaches_open_items_naming_a_new_patient(session, world):
    plans.submit_plan(DAY, [item("U1", "ZY555", patient_name="周八")], source="api", now=BEFORE)
    db.session.commit()
    zhou = cm.make_patient("周八", hospital_no="ZY555", now=BEFORE)  # registering the patient matches the item
    assert items_by_id()["U1"].patient_id == zhou.id
    assert plan_matching.rematch_patient(zhou, now=BEFORE) == 0


def test_a_discharged_and_closed_patient_is_refused_naming_the_item(session, world):
    enrolment = cm.enrol(world["wang"], case_manager=world["li"], ward=world["ward"])
    patients.close_enrolment(enrolment, closed_on=date(2026, 11, 20), reason="出院随访结束")
    db.session.commit()
    with pytest.raises(plan_validation.PlanError) as refused:
        plans.submit_plan(DAY, [item("A1"), item("A2", "ZY002")], source="api", now=BEFORE)
    message = refused.value.message
    assert "第 2 项（项目编号 A2）" in message and "患者王*（ZY002）" in message and "已出院结案" in message
    assert [(p.index, p.field) for p in refused.value.problems] == [(2, "patient")]
    assert db.session.scalar(select(func.count()).select_from(Plan)) == 0  # all or nothing
    # Enrolled again: accepted. A patient never enrolled is accepted too.
    cm.enrol(world["wang"], case_manager=world["li"], ward=world["ward"], start=date(2026, 11, 21))
    assert plans.submit_plan(DAY, [item("A1"), item("A2", "ZY002")], source="api", now=BEFORE).created == 2


def test_duplicates_are_refused(session, world):
    with pytest.raises(plan_validation.PlanError, match="项目编号 A1 与第 1 项重复"):
        plans.submit_plan(DAY, [item("A1"), item("A1", "ZY002")], source="api", now=BEFORE)
    same = "与第 1 项重复：同一患者、同一服务项目（陪同入院）、同一时段（上午）"
    with pytest.raises(plan_validation.PlanError, match=same):
        plans.submit_plan(DAY, [item("A1"), item("A2", bed="13")], source="api", now=BEFORE)
    plans.submit_plan(DAY, [item("A1")], source="api", now=BEFORE)
    with pytest.raises(plan_validation.PlanError, match="与计划中已有的项目 A1 重复"):
        plans.submit_plan(DAY, [item("X9")], source="form", now=BEFORE)
    # Another slot or another service for the same patient is fine; so is replacing A1 by X9.
    assert plans.submit_plan(DAY, [item("X9", time_slot="下午")], source="form", now=BEFORE).created == 1
    assert plans.submit_plan(DAY, [item("X8")], source="api", replace=True, now=BEFORE).cancelled == 2
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 3


def test_special_needs_and_text_limits(session, world):
    with pytest.raises(plan_validation.PlanError) as refused:
        plans.submit_plan(DAY, [item("A1", special_note="注" * 201), item("A2", "ZY002", note="备" * 501),
                                item("A3", "ZY002", task_type="education", special_needs=["wheelchair", "飞行"]),
                                item("A4", "ZY002", task_type="nope")], source="api", now=BEFORE)
    messages = [p.message for p in refused.value.problems]
    assert "特殊需求说明不能超过 200 个字符（现有 201 个）" in messages
    assert "备注不能超过 500 个字符（现有 501 个）" in messages
    assert any(m.startswith("未知的特殊需求“飞行”") for m in messages)
    assert any(m.startswith("服务项目“nope”无效") for m in messages)
    assert "计划有 4 处问题，没有写入任何数据" in refused.value.message
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 0
    # Codes or labels, in any order: stored as codes in the catalogue's order; the same set is unchanged.
    plans.submit_plan(DAY, [item("A1", special_needs="禁食、轮椅", special_note="注" * 200)], source="api", now=BEFORE)
    assert items_by_id()["A1"].special_needs == ["wheelchair", "fasting"]
    again = plans.submit_plan(DAY, [item("A1", special_needs=["fasting", "wheelchair"], special_note="注" * 200)],
                              source="api", now=BEFORE)
    assert again.unchanged == 1


def test_plan_dates_from_tomorrow_to_30_days_ahead(session, world):
    for day in (DAY - timedelta(days=1), DAY - timedelta(days=5)):
        with pytest.raises(ServiceError, match="明天"):
            plans.submit_plan(day, [item("A1")], source="api", now=BEFORE)  # today and the past
    with pytest.raises(ServiceError, match="最多提前 30 天"):
        plans.submit_plan(DAY + timedelta(days=30), [item("A1")], source="api", now=BEFORE)
    assert plans.submit_plan(DAY + timedelta(days=29), [item("A1")], source="api", now=BEFORE).created == 1
    with pytest.raises(ServiceError, match="没有任何项目"):
        plans.submit_plan(DAY, [], source="api", now=BEFORE)


def test_task_lists_built_before_a_revision_follow_it(session, world):
    cm.enrol(world["zhang"], case_manager=world["li"], ward=world["ward"])
    plans.submit_plan(DAY, [item("A1"), item("A2", "ZY002")], source="api", now=BEFORE)
    db.session.commit()
    built = tasks.build_daily_tasks(DAY)
    db.session.commit()
    assert built.created == 2
    # The evening revision: A1 moves bed, A2 is withdrawn, A3 arrives late.
    wang = world["wang"]
    cm.enrol(wang, case_manager=world["li"], ward=world["ward"])
    plans.submit_plan(DAY, [item("A1", bed="20"), item("A3", "ZY002", task_type="accompany_discharge")],
                      source="api", replace=True, now=AFTER)
    db.session.commit()
    by_item = {t.plan_item.external_id: t for t in db.session.scalars(
        select(CareTask).execution_options(populate_existing=True))}
    assert by_item["A1"].bed == "20" and by_item["A1"].status == "open"
    assert by_item["A2"].status == "cancelled"
    assert by_item["A3"].status == "open" and by_item["A3"].case_manager_id == world["li"].id
    notes = db.session.scalars(select(Notification).where(Notification.user_id == world["li"].id)).all()
    assert [n.title for n in notes] == ["11月24日的任务清单新增 1 项"]


def test_every_change_is_audited(session, world):
    plans.submit_plan(DAY, [item("A1")], source="api", now=BEFORE)
    plans.submit_plan(DAY, [item("A1", bed="9")], source="api", now=BEFORE)
    plans.cancel_item(items_by_id()["A1"], now=BEFORE)
    rows = db.session.execute(select(AuditLog.entity_type, AuditLog.action).where(
        AuditLog.entity_type.in_(("plan", "plan_item"))).order_by(AuditLog.id)).all()
    assert rows == [("plan_item", "create"), ("plan", "create"), ("plan_item", "update"), ("plan", "update"),
                    ("plan_item", "cancel"), ("plan", "update")]


# ---------------------------------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The plan service's clock, set by the test: 16:00 Beijing on the day before DAY unless moved."""
    state = {"now": BEFORE}
    monkeypatch.setattr(plan_clock, "utcnow", lambda: state["now"])
    return state


def test_plan_pages_need_the_plan_permission(client, world, tree):
    assert client.get("/casemgmt/plans").status_code == 302
    client.login("cm_li")
    assert client.get("/casemgmt/plans").status_code == 403
    assert client.get(f"/casemgmt/plans/{DAY}").status_code == 403
    assert client.submit(f"/casemgmt/plans/{DAY}/items", item("A1")).status_code == 403


def test_list_and_detail_show_the_plan_and_the_cutoff(client, world, clock):
    plans.submit_plan(DAY, [item("A1", special_needs=["wheelchair"]), item("U1", "ZY404", patient_name="孙七")],
                      source="api", now=AFTER)
    db.session.commit()
    client.login("issuer")
    listing = text_of(client.get("/casemgmt/plans"))
    assert "2026-11-24" in listing and "迟报" in listing and "1 项" in listing
    assert "今日 17:00 截止" in listing
    page = client.get(f"/casemgmt/plans/{DAY}")
    text = text_of(page)
    assert page.status_code == 200
    assert "张*丰" in text and "轮椅" in text and "胸外病区 · 12床" in text and "第 1 版" in text
    assert "待匹配患者 （1）" in text and "孙*" in text and "/casemgmt/patients/new" in page.get_data(as_text=True)
    clock["now"] = AFTER
    assert "已过截止时间，提交将标记为迟报" in text_of(client.get(f"/casemgmt/plans/{DAY}"))
    partial = client.htmx_get(f"/casemgmt/plans/{DAY}?status=unknown")
    assert "U1" in partial.get_data(as_text=True) and "A1" not in text_of(partial)
    assert "<html" not in partial.get_data(as_text=True)
    section = client.get(f"/casemgmt/plans/{DAY}", headers={"HX-Request": "true", "HX-Target": "plan-unknown"})
    html = section.get_data(as_text=True)
    assert 'id="plan-unknown"' in html and "U1" in html and "A1" not in text_of(section)


def test_bad_dates_in_the_address(client, world, clock):
    client.login("issuer")
    assert client.get("/casemgmt/plans/2026-13-01").status_code == 400
    response = client.get("/casemgmt/plans/yesterday")
    assert response.status_code == 400 and "格式不正确" in text_of(response)
    assert client.get("/casemgmt/plans/2026-11-01").status_code == 404  # past, no plan
    assert client.get("/casemgmt/plans/2026-11-01/export").status_code == 404
    assert client.get(f"/casemgmt/plans/{DAY}?status=bogus").status_code == 400


def test_add_item_through_the_form_plain_and_htmx(client, world, clock):
    client.login("issuer")
    form = {"patient": "ZY001", "patient_name": "张三丰", "task_type": "accompany_admission",
            "ward_id": str(world["ward"].id), "bed": "12", "time_slot": "morning",
            "special_needs": ["wheelchair", "fasting"], "special_note": "需要家属陪同", "note": ""}
    response = client.submit(f"/casemgmt/plans/{DAY}/items", form)
    assert response.status_code == 303
    added = items_by_id()
    assert len(added) == 1
    (only,) = added.values()
    assert only.patient_id == world["zhang"].id and only.source == "form" and not only.is_late
    assert only.special_needs == ["wheelchair", "fasting"]
    # The same again: refused as a duplicate (same patient, service and slot), 422, nothing added.
    again = client.submit(f"/casemgmt/plans/{DAY}/items", form, htmx=True)
    assert again.status_code == 422 and "只能有一项" in text_of(again)
    # After the cutoff, through htmx: the form comes back empty with a message, the list is told to refresh.
    clock["now"] = AFTER
    late = client.submit(f"/casemgmt/plans/{DAY}/items", {**form, "patient": "ZY002", "patient_name": "王五"},
                         htmx=True)
    assert late.status_code == 200 and "标记为迟报" in text_of(late) and "planChanged" in late.headers["HX-Trigger"]
    late_item = next(i for i in items_by_id().values() if i.patient_id == world["wang"].id)
    assert late_item.is_late and not next(i for i in items_by_id().values() if i.id == only.id).is_late
    bad = client.submit(f"/casemgmt/plans/{DAY}/items", {**form, "special_note": "长" * 201, "task_type": ""})
    assert bad.status_code == 422
    text = text_of(bad)
    assert "不能超过 200 个字符" in text and "请选择服务项目" in text
    past = client.submit("/casemgmt/plans/2026-11-23/items", form, htmx=True)
    assert past.status_code == 422 and "明天" in text_of(past)
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 2


def test_edit_cancel_and_resolve_through_the_pages(client, world, clock):
    plans.submit_plan(DAY, [item("A1"), item("U1", "ZY404", patient_name="孙七")], source="api", now=BEFORE)
    db.session.commit()
    found = items_by_id()
    a1, u1 = found["A1"].id, found["U1"].id
    client.login("issuer")
    page = client.get(f"/casemgmt/plans/items/{a1}/edit")
    assert page.status_code == 200 and 'value="12"' in page.get_data(as_text=True)
    saved = client.submit(f"/casemgmt/plans/items/{a1}/edit", {"patient_name": "张三丰", "task_type": "education",
                                                               "ward_id": "", "bed": "3", "time_slot": "afternoon"})
    assert saved.status_code == 303
    edited = items_by_id()["A1"]
    assert (edited.task_type, edited.bed, edited.ward_id, edited.patient_id) == ("education", "3", None,
                                                                                 world["zhang"].id)
    assert plan_row().revision == 2
    assert client.submit(f"/casemgmt/plans/items/{a1}/edit", {"task_type": "nope"}).status_code == 422
    # Resolve: an unknown number is refused in place; a known one attaches the patient.
    missing = client.submit(f"/casemgmt/plans/items/{u1}/resolve", {"ref": "ZY777"}, htmx=True)
    assert missing.status_code == 422 and "找不到住院号或证件号码为 ZY777 的患者" in text_of(missing)
    sun = cm.make_patient("孙七", hospital_no="ZY405")  # the plan had a mistyped number: the issuer picks him
    assert items_by_id()["U1"].patient_id is None
    done = client.submit(f"/casemgmt/plans/items/{u1}/resolve", {"ref": "ZY405"}, htmx=True)
    assert done.status_code == 200 and "已为项目 U1 匹配患者 孙*" in text_of(done)
    assert items_by_id()["U1"].patient_id == sun.id
    assert client.submit(f"/casemgmt/plans/items/{u1}/resolve", {"ref": "ZY405"}).status_code == 422
    # Cancel, and cancelling twice.
    assert client.submit(f"/casemgmt/plans/items/{a1}/cancel").status_code == 303
    assert items_by_id()["A1"].is_cancelled
    twice = client.submit(f"/casemgmt/plans/items/{a1}/cancel")
    assert twice.status_code == 409 and "已取消" in text_of(twice)
    assert client.submit("/casemgmt/plans/items/999999/cancel").status_code == 404


def test_rematch_button_and_export(client, world, clock):
    number = cm.resident_id(902)
    plans.submit_plan(DAY, [item("U1", number, patient_name="赵六"), item("A1", special_needs=["oxygen"])],
                      source="api", now=BEFORE)
    db.session.commit()
    cm.make_patient("赵六", id_number=number)
    client.login("issuer")
    response = client.submit(f"/casemgmt/plans/{DAY}/rematch")
    assert response.status_code == 303 and items_by_id()["U1"].patient_id is not None
    export = client.get(f"/casemgmt/plans/{DAY}/export?status=active")
    assert export.status_code == 200
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(export.data)).active.iter_rows()]
    assert rows[2][:5] == ["计划日期", "项目编号", "患者", "住院号/证件号", "服务项目"]
    body = {r[1]: r for r in rows[3:]}
    assert body["A1"][2] == "张*丰" and body["A1"][9] == "吸氧"
    assert number not in str(rows) and body["U1"][2] == "赵*"


def test_many_references_are_resolved_by_the_same_rule_as_one(session, world):
    number = cm.resident_id(777)
    a = cm.make_patient("周一", id_number=number, hospital_no="ZY801")
    cm.make_patient("周壹", id_number=number)  # the same ID number under another name: ambiguous by number
    other = next(n for n in (cm.resident_id(k) for k in range(800, 900)) if n.endswith("X"))
    b = cm.make_patient("吴二", id_number=other, hospital_no="ZY802")
    refs = {"ZY801", "ZY802", " ZY802 ", number, number.lower(), "ZY000", other, other.lower()}
    found = patients.find_by_refs(refs)
    assert found == {ref: patients.find_by_ref(ref) for ref in refs}
    assert found["ZY801"] == a and found[" ZY802 "] == b and found[number] is None and found["ZY000"] is None
    assert found[other] == found[other.lower()] == b  # the check letter in either case


def test_the_form_offers_only_inpatient_units_names_items_readably_and_refreshes_the_counts(client, world, clock,
                                                                                          tree):
    from tests.factories import make_department

    make_department("信息科", "department", tree.north)
    make_department("医务科", "department", tree.north)
    passport_like = cm.make_patient("赵六", hospital_no="ZY2026003")  # two letters and seven digits
    db.session.commit()
    client.login("issuer")
    page = client.get(f"/casemgmt/plans/{DAY}").get_data(as_text=True)
    form_part = page[page.index('id="plan-item-form"'):]
    start = form_part.index('name="ward_id"')
    offered = form_part[start:form_part.index("</select>", start)]
    # Wards, and departments with a ward (普外科 has 胸外病区); offices and ward-less departments are not offered.
    assert "胸外病区" in offered and "心内病区" in offered and "普外科" in offered
    for office in ("信息科", "医务科", "骨科", "测试医院", "北区"):
        assert office not in offered
    refused = plan_validation.check_items(DAY, [item("X1", ward="医务科")])
    assert refused and "找不到在用的病区" in refused[0].message

    form = {"patient": "ZY2026003", "patient_name": "赵六", "task_type": "accompany_admission",
            "ward_id": str(world["ward"].id), "bed": "12", "time_slot": "morning", "note": ""}
    assert client.submit(f"/casemgmt/plans/{DAY}/items", form).status_code == 303
    added = client.submit(f"/casemgmt/plans/{DAY}/items", {**form, "patient": "ZY001", "patient_name": "张三丰"},
                          htmx=True)
    assert added.status_code == 200 and "planChanged" in added.headers["HX-Trigger"]
    # The counts listen for planChanged and come back fresh.
    facts = client.get(f"/casemgmt/plans/{DAY}", headers={"HX-Request": "true", "HX-Target": "plan-facts"})
    html = facts.get_data(as_text=True)
    assert 'id="plan-facts"' in html and 'hx-trigger="planChanged from:body"' in html
    assert 'data-testid="plan-active-count">2<' in html
    # Items entered by hand get readable ids: the date and a sequence.
    assert sorted(items_by_id()) == ["20261124-001", "20261124-002"]
    # A known patient's hospital number is shown as it is, whether the item came by form or by import.
    plans.submit_plan(DAY, [item("HIS-9", "ZY2026003", patient_name="赵六", task_type="phone_followup")],
                      source="excel", batch=True)
    db.session.commit()
    refs = {i.external_id: i.patient_ref for i in items_by_id().values() if i.patient_id == passport_like.id}
    assert refs == {"20261124-001": "ZY2026003", "HIS-9": "ZY2026003"}
    assert "ZY20*6003" not in text_of(client.get(f"/casemgmt/plans/{DAY}"))
