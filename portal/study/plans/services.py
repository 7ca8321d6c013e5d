"""Monthly study plans: the department fills in its sessions and submits the plan to medical affairs."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from portal.approvals import services as approvals
from portal.auth.models import Department, User
from portal.core import audit
from portal.core.months import month_bounds, month_label
from portal.core.service import ServiceError, atomic, clean
from portal.extensions import db

from ..models import StudyPlan, StudySession

PLAN_FIELDS = ("department_id", "month", "status", "note")
EDITABLE = ("draft", "returned")
MAX_SESSIONS = 31


def study_department(department_id: int) -> Department:
    """A department that keeps study records (an active clinical department), or a ServiceError."""
    dept = db.session.get(Department, department_id)
    if dept is None or dept.kind != "department" or not dept.is_active:
        raise ServiceError("请选择一个在用的科室。", field="department_id", status=404)
    return dept


def find_plan(department_id: int, month: date) -> StudyPlan | None:
    return db.session.scalar(select(StudyPlan).where(StudyPlan.department_id == department_id,
                                                     StudyPlan.month == month))


def plan_for(department_id: int, month: date) -> StudyPlan:
    """The department's plan for the month, created as a draft on first use."""
    plan = find_plan(department_id, month)
    if plan is None:
        study_department(department_id)
        plan = StudyPlan(department_id=department_id, month=month, status="draft", note="")
        db.session.add(plan)
        db.session.flush()
        audit.record("create", "study_plan", plan.id, label=f"学习计划 {month:%Y-%m}",
                     after=audit.snapshot(plan, PLAN_FIELDS))
    return plan


def reopen(approval_id: int | None, user: User | None = None) -> bool:
    """Whether a submission continues the earlier review (it was returned) rather than starting a new one.

    The engine lets only the applicant send a returned request back: anyone else is told who can."""
    if not approval_id:
        return False
    from portal.approvals.models import ApprovalInstance

    instance = db.session.get(ApprovalInstance, approval_id)
    if instance is None or instance.status != "returned":
        return False
    if user is not None and instance.applicant_id != user.id:
        raise ServiceError(f"退回的材料请由原提交人（{instance.applicant.display_name}）修改后重新提交。", status=403)
    return True


def _check_editable(plan: StudyPlan) -> None:
    if plan.status not in EDITABLE:
        raise ServiceError(f"该学习计划{plan.status_label}，不能修改。", status=409)


@atomic()
def add_session(plan: StudyPlan, *, day: date, topic: str, speaker: str, attendees: str = "",
                minutes: int = 60) -> StudySession:
    """Add one planned session; its day must lie in the plan's month."""
    _check_editable(plan)
    first, last = month_bounds(plan.month)
    if not first <= day <= last:
        raise ServiceError(f"学习日期必须在{month_label(plan.month)}内（{first:%Y-%m-%d} 至 {last:%Y-%m-%d}）。",
                           field="day")
    if not clean(topic) or not clean(speaker):
        raise ServiceError("请填写学习主题和主讲人。", field="topic")
    if not 10 <= minutes <= 480:
        raise ServiceError("时长应在 10 至 480 分钟之间。", field="minutes")
    if len(plan.sessions) >= MAX_SESSIONS:
        raise ServiceError(f"一个月最多安排 {MAX_SESSIONS} 次学习。", field="topic")
    session = StudySession(plan=plan, day=day, topic=clean(topic)[:200], speaker=clean(speaker)[:50],
                           attendees=clean(attendees)[:200], hours=minutes)
    db.session.add(session)
    db.session.flush()
    audit.record("update", "study_plan", plan.id, label=f"学习计划 {plan.month:%Y-%m}",
                 changes={"added_session": f"{day:%Y-%m-%d} {session.topic}"})
    return session


def remove_session(plan: StudyPlan, session_id: int) -> None:
    """Remove a planned session that has no record yet."""
    _check_editable(plan)
    session = next((s for s in plan.sessions if s.id == session_id), None)
    if session is None:
        raise ServiceError("没有这条学习安排。", status=404)
    if session.record is not None:
        raise ServiceError("该学习已有记录，不能删除。", status=409)
    plan.sessions.remove(session)
    db.session.flush()
    audit.record("update", "study_plan", plan.id, label=f"学习计划 {plan.month:%Y-%m}",
                 changes={"removed_session": f"{session.day:%Y-%m-%d} {session.topic}"})


@atomic()
def submit_plan(plan: StudyPlan, user: User, note: str = "", files=()) -> StudyPlan:
    """Send the plan (with its attachments) to medical affairs; a returned plan goes back to the same review."""
    _check_editable(plan)
    if not plan.sessions:
        raise ServiceError("请至少安排一次学习再提交。", field="note")
    before = audit.snapshot(plan, PLAN_FIELDS)
    plan.note = clean(note)[:2000]
    plan.status = "submitted"
    title = f"{plan.department.name}{month_label(plan.month)}学习计划"
    if reopen(plan.approval_id, user):
        approvals.resubmit(plan.approval_id, user, plan.note, files)
    else:
        instance = approvals.submit("study_plan", entity_type="study_plan", entity_id=plan.id, title=title,
                                    applicant=user, department_id=plan.department_id, comment=plan.note, files=files)
        plan.approval_id = instance.id
    audit.record("update", "study_plan", plan.id, label=title, before=before, after=audit.snapshot(plan, PLAN_FIELDS))
    return plan
