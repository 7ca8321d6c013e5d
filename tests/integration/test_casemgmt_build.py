"""Building the daily task lists: plan items, pathway steps, carry-over, ward balancing, idempotence."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.auth.models import User
from portal.casemgmt.models import CareTask, LedgerEntry, PlanItem
from portal.casemgmt.tasks import services as tasks
from portal.core.service import Conflict, ServiceError
from portal.core.timeutil import utcnow
from portal.extensions import db
from tests import cm_factories as cm
from tests.sqlcount import statements

DAY = date(2026, 11, 24)


@pytest.fixture
def ward_setup(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    other_ward = cm.make_ward("骨科病区", tree.orthopaedics)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.surgery, "王个管")
    zhao = cm.make_case_manager("cm_zhao", tree.orthopaedics, "赵个管")
    cm.cover(ward, li, wang)
    cm.cover(other_ward, zhao)
    return ward, other_ward, li, wang, zhao


def _tasks(**where):
    stmt = select(CareTask).order_by(CareTask.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(CareTask, key) == value)
    return db.session.scalars(stmt).all()


def test_plan_items_go_to_the_patients_case_manager_or_the_least_loaded_ward_manager(session, ward_setup):
    ward, other_ward, li, wang, zhao = ward_setup
    managed = cm.make_patient("周大福")
    cm.enrol(managed, case_manager=zhao, ward=other_ward)
    loose = [cm.make_patient(name) for name in ("钱一", "孙二", "吴三", "郑四")]
    cm.make_plan(DAY, {"patient_id": managed.id, "ward_id": ward.id},
          *({"patient_id": p.id, "ward_id": ward.id} for p in loose))
    result = tasks.build_daily_tasks(DAY)
    db.session.commit()
    assert result.created == 5 and result.unassigned == 0
    by_patient = {t.patient_id: t.case_manager_id for t in _tasks()}
    assert by_patient[managed.id] == zhao.id  # the patient's own case manager, whatever the ward
    loads = sorted(list(by_patient.values()).count(m.id) for m in (li, wang))
    assert loads == [2, 2]  # four ward items balanced over the two covering managers


def test_rebuilding_is_idempotent_and_keeps_done_and_reassigned_work(session, ward_setup):
    ward, _, li, wang, _ = ward_setup
    a, b = cm.make_patient("钱一"), cm.make_patient("孙二")
    plan = cm.make_plan(DAY, {"patient_id": a.id, "ward_id": ward.id}, {"patient_id": b.id, "ward_id": ward.id})
    tasks.build_daily_tasks(DAY)
    db.session.commit()
    first, second = _tasks()
    tasks.complete_task(first, db.session.get(User, first.case_manager_id),
                        outcome="reached", today=DAY)
    target = li if second.case_manager_id == wang.id else wang
    tasks.reassign_task(second, target.id)
    db.session.commit()
    again = tasks.build_daily_tasks(DAY)
    db.session.commit()
    assert again.created == 0 and again.cancelled == 0
    first, second = _tasks()
    assert first.status == "done" and second.case_manager_id == target.id and second.assigned_by_hand
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    # A revision: the second item is withdrawn, a third added; the done one stays as it was.
    plan.items[1].is_cancelled = True
    c = cm.make_patient("吴三")
    db.session.add(PlanItem(plan_id=plan.id, external_id="X3", patient_id=c.id, ward_id=ward.id,
                            task_type="phone_followup", submitted_at=utcnow(), is_late=True))
    db.session.commit()
    revised = tasks.apply_plan_revision(plan)
    db.session.commit()
    assert (revised.created, revised.cancelled) == (1, 1)
    statuses = [t.status for t in _tasks()]
    assert statuses == ["done", "cancelled", "open"]


def test_late_item_after_the_build_notifies_its_case_manager(session, ward_setup):
    from portal.notify.models import Notification

    ward, _, li, _, _ = ward_setup
    plan = cm.make_plan(DAY)
    tasks.build_daily_tasks(DAY)
    p = cm.make_patient("钱一")
    cm.enrol(p, case_manager=li, ward=ward)
    db.session.add(PlanItem(plan_id=plan.id, external_id="L1", patient_id=p.id, ward_id=ward.id,
                            task_type="accompany_discharge", submitted_at=utcnow(), is_late=True))
    db.session.commit()
    tasks.apply_plan_revision(plan)
    db.session.commit()
    notes = db.session.scalars(select(Notification).where(Notification.user_id == li.id)).all()
    assert len(notes) == 1 and "新增 1 项" in notes[0].title


def test_pathway_steps_fall_due_once_within_their_window_and_carry_over(session, ward_setup):
    ward, _, li, _, _ = ward_setup
    cm.make_pathway()
    p = cm.make_patient("钱一")
    enrolment = cm.enrol(p, case_manager=li, ward=ward, discharge_date=date(2026, 11, 20),
                         admission_date=date(2026, 11, 10))
    assert enrolment.pathway_version_id is not None
    # Discharge + 1 = 11-21, window 2 days: built on the 22nd it is still due (window until 11-23).
    tasks.build_daily_tasks(date(2026, 11, 22))
    tasks.build_daily_tasks(date(2026, 11, 22))
    db.session.commit()
    made = _tasks(source="pathway")
    assert len(made) == 1 and made[0].due_date == date(2026, 11, 21) and made[0].window_end == date(2026, 11, 23)
    assert made[0].outcome_fields == ["体温", "伤口情况"] and made[0].case_manager_id == li.id
    # Two days later it is still open: it is carried over (overdue), not duplicated.
    result = tasks.build_daily_tasks(date(2026, 11, 24))
    assert result.carried_over == 1 and len(_tasks(source="pathway")) == 1
    assert made[0].is_overdue(date(2026, 11, 24))
    # The revisit reminder (discharge + 7, window 3) appears on the 27th.
    tasks.build_daily_tasks(date(2026, 11, 27))
    db.session.commit()
    assert [t.title for t in _tasks(source="pathway")] == ["出院后电话随访", "复诊提醒"]


def test_completing_someone_elses_task_or_twice_is_refused(session, ward_setup):
    ward, _, li, wang, _ = ward_setup
    p = cm.make_patient("钱一")
    cm.enrol(p, case_manager=li, ward=ward)
    cm.make_plan(DAY, {"patient_id": p.id, "ward_id": ward.id})
    tasks.build_daily_tasks(DAY)
    db.session.commit()
    (task,) = _tasks()
    with pytest.raises(ServiceError) as refused:
        tasks.complete_task(task, wang, outcome="reached", today=DAY)
    assert refused.value.status == 403
    tasks.complete_task(task, li, outcome="reached", score=5, values={"体温": "36.5"}, today=DAY)
    db.session.commit()
    with pytest.raises(Conflict) as twice:
        tasks.complete_task(task, li, outcome="declined", today=DAY)
    assert "已由" in twice.value.message
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def test_rescheduling_moves_the_task_and_keeps_it_open(session, ward_setup):
    ward, _, li, _, _ = ward_setup
    p = cm.make_patient("钱一")
    cm.enrol(p, case_manager=li, ward=ward)
    cm.make_plan(DAY, {"patient_id": p.id, "ward_id": ward.id})
    tasks.build_daily_tasks(DAY)
    (task,) = _tasks()
    with pytest.raises(ServiceError):
        tasks.complete_task(task, li, outcome="rescheduled", reschedule_to=DAY, today=DAY)
    tasks.complete_task(task, li, outcome="rescheduled", reschedule_to=DAY + timedelta(days=2), today=DAY)
    db.session.commit()
    assert (task.status, task.due_date, task.reschedule_count) == ("open", DAY + timedelta(days=2), 1)


def test_a_plan_that_arrives_after_the_days_build_still_reaches_the_lists(session, ward_setup):
    from portal.casemgmt.models import TaskListBuild

    ward, _, li, _, _ = ward_setup
    tasks.build_daily_tasks(DAY)  # 17:05: no plan for the day yet
    tasks.build_daily_tasks(DAY)
    db.session.commit()
    build = db.session.scalar(select(TaskListBuild).where(TaskListBuild.day == DAY))
    assert build.builds == 2 and build.last_result["created"] == 0
    p = cm.make_patient("钱一")
    cm.enrol(p, case_manager=li, ward=ward)
    plan = cm.make_plan(DAY, {"patient_id": p.id, "ward_id": ward.id, "is_late": True})
    result = tasks.apply_plan_revision(plan)
    db.session.commit()
    assert result.created == 1 and plan.built_at is not None
    assert [t.case_manager_id for t in _tasks()] == [li.id]


def test_a_finished_task_cannot_be_reassigned(session, ward_setup):
    ward, _, li, wang, _ = ward_setup
    p = cm.make_patient("钱一")
    cm.enrol(p, case_manager=li, ward=ward)
    cm.make_plan(DAY, {"patient_id": p.id, "ward_id": ward.id})
    tasks.build_daily_tasks(DAY)
    (task,) = _tasks()
    tasks.complete_task(task, li, outcome="reached", today=DAY)
    with pytest.raises(Conflict):
        tasks.reassign_task(task, wang.id)
    assert task.case_manager_id == li.id and not task.assigned_by_hand


def _count_statements(run) -> int:
    with statements(db.session.connection()) as seen:
        run()
    return len(seen)


def test_the_build_issues_the_same_few_statements_however_long_the_plan(session, ward_setup):
    """No query or INSERT per plan item or per enrolment: the 17:05 build runs over thousands of them."""
    ward, other_ward, li, _, _ = ward_setup
    cm.make_pathway()

    def day_with(n: int, day: date) -> int:
        patients = [cm.make_patient(f"患者{day.day}-{i}") for i in range(n)]
        for i, p in enumerate(patients):
            cm.enrol(p, case_manager=li if i % 2 else None, ward=ward if i % 3 else other_ward,
                     discharge_date=day - timedelta(days=1), admission_date=day - timedelta(days=8))
        cm.make_plan(day, *({"patient_id": p.id, "ward_id": ward.id} for p in patients))
        db.session.commit()
        return _count_statements(lambda: tasks.build_daily_tasks(day))

    small, large = day_with(2, DAY), day_with(12, DAY + timedelta(days=1))
    db.session.commit()
    assert len(_tasks(due_date=DAY + timedelta(days=1), source="plan")) == 12
    assert len(_tasks(due_date=DAY + timedelta(days=1), source="pathway")) == 12  # discharge + 1, still in window
    assert large == small
    again = _count_statements(lambda: tasks.build_daily_tasks(DAY + timedelta(days=1)))
    assert again <= small and len(_tasks(due_date=DAY + timedelta(days=1))) == 24  # idempotent
