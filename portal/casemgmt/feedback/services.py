"""Satisfaction surveys and adverse events / complaints: what patients say about the service.

A survey scores timeliness, effectiveness and attitude from 1 to 5, either for one service (a
completed task) or for a patient and a month (at most one such survey per patient per month). An
adverse event or complaint moves open -> handling -> closed; a closed one is read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort
from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.orm import selectinload

from portal.auth.models import User
from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit
from portal.core.months import month_bounds
from portal.core.scoping import get_or_404
from portal.core.service import Conflict, ServiceError, clean
from portal.core.timeutil import local_today, to_local, utcnow
from portal.extensions import db
from portal.notify.services import notify

from ..models import (
    EVENT_KINDS,
    EVENT_STATES,
    SEVERITIES,
    AdverseEvent,
    CareTask,
    Enrolment,
    LedgerEntry,
    Patient,
    SatisfactionSurvey,
)
from ..scoping import scope_patients, sees_all

SCORES = {"timeliness": "服务及时性", "effectiveness": "服务有效性", "attitude": "服务态度"}
SURVEY_MONTHS_BACK = 12
EVENT_DAYS_BACK = 366
URGENT_SEVERITIES = ("severe", "critical")
SURVEY_FIELDS = ("patient_id", "task_id", "survey_month", "timeliness", "effectiveness", "attitude", "comment")
EVENT_FIELDS = ("kind", "patient_id", "occurred_on", "severity", "description", "handling", "status", "closed_at",
                "case_manager_id")
MAX_TEXT = 5000


# --- satisfaction surveys ---------------------------------------------------------------------------------


def _score(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ServiceError(f"{SCORES[name]}评分应为 1–5 分。", field=name)
    return value


def _task_month(task: CareTask) -> date:
    served = db.session.scalar(select(LedgerEntry.service_date).where(LedgerEntry.task_id == task.id))
    if served is None:
        completed = to_local(task.completed_at)
        served = completed.date() if completed else task.due_date
    return served.replace(day=1)


def record_survey(patient: Patient, *, task: CareTask | None = None, survey_month: date | None = None,
                  timeliness: int, effectiveness: int, attitude: int, comment: str = "",
                  today: date | None = None) -> SatisfactionSurvey:
    """A survey of one completed service (task) or of the patient's month (at most one per patient and month)."""
    today = today or local_today()
    scores = {name: _score(name, value) for name, value in
              (("timeliness", timeliness), ("effectiveness", effectiveness), ("attitude", attitude))}
    comment = clean(comment)
    if len(comment) > 500:
        raise ServiceError("意见与建议不超过 500 字。", field="comment")
    if task is not None:
        if task.patient_id != patient.id:
            raise ServiceError("该服务不属于所选患者。", field="task_id")
        if task.status != "done":
            raise ServiceError("只能评价已完成的服务。", field="task_id")
        if db.session.scalar(select(SatisfactionSurvey.id).where(SatisfactionSurvey.task_id == task.id)):
            raise ServiceError("该次服务已有满意度评价，不能重复录入。", field="task_id")
        month = _task_month(task)
    else:
        if not isinstance(survey_month, date):
            raise ServiceError("请选择调查月份。", field="survey_month")
        month = survey_month.replace(day=1)
        if month > today.replace(day=1):
            raise ServiceError("调查月份不能晚于本月。", field="survey_month")
        oldest = (today.replace(day=1) - timedelta(days=SURVEY_MONTHS_BACK * 31)).replace(day=1)
        if month < oldest:
            raise ServiceError(f"只能补录近 {SURVEY_MONTHS_BACK} 个月的满意度调查。", field="survey_month")
        # Two people entering the same patient's month at once: the patient row serialises them
        # (SQLite serialises every write request already).
        db.session.execute(select(Patient.id).where(Patient.id == patient.id).with_for_update())
        if db.session.scalar(select(SatisfactionSurvey.id).where(SatisfactionSurvey.patient_id == patient.id,
                                                                 SatisfactionSurvey.task_id.is_(None),
                                                                 SatisfactionSurvey.survey_month == month)):
            raise ServiceError(f"该患者 {month:%Y年%m月} 的月度满意度调查已录入，每位患者每月只录入一次。",
                               field="survey_month")
    survey = SatisfactionSurvey(patient_id=patient.id, task_id=task.id if task else None, survey_month=month,
                                comment=comment, **scores)
    db.session.add(survey)
    db.session.flush()
    audit.record("create", "satisfaction_survey", survey.id, label=f"{patient.masked_name} {month:%Y-%m}",
                 after=audit.snapshot(survey, SURVEY_FIELDS))
    return survey


def survey_manager_column():
    """The case manager a survey counts for: the surveyed task's, else the patient's current one."""
    return func.coalesce(CareTask.case_manager_id, Enrolment.case_manager_id)


@dataclass
class SurveyFilters:
    month: date | None = None
    case_manager_id: int | None = None
    kind: str = ""  # task / month


SURVEY_KINDS = {"task": "单次服务评价", "month": "月度调查"}


def survey_query(user: User, filters: SurveyFilters) -> Select:
    """Surveys of the patients the user may see, filtered, newest month first."""
    stmt = (select(SatisfactionSurvey).outerjoin(CareTask, CareTask.id == SatisfactionSurvey.task_id)
            .outerjoin(Enrolment, (Enrolment.patient_id == SatisfactionSurvey.patient_id)
                       & (Enrolment.status == "active")))
    stmt = scope_patients(stmt, SatisfactionSurvey.patient_id, user)
    if filters.month:
        stmt = stmt.where(SatisfactionSurvey.survey_month == filters.month.replace(day=1))
    if filters.case_manager_id:
        stmt = stmt.where(survey_manager_column() == filters.case_manager_id)
    if filters.kind == "task":
        stmt = stmt.where(SatisfactionSurvey.task_id.is_not(None))
    elif filters.kind == "month":
        stmt = stmt.where(SatisfactionSurvey.task_id.is_(None))
    return stmt.order_by(SatisfactionSurvey.survey_month.desc(), SatisfactionSurvey.id.desc())


def survey_ids(stmt: Select) -> Select:
    """The ids a (filtered) survey statement selects, as a subquery for survey_details."""
    return stmt.order_by(None).with_only_columns(SatisfactionSurvey.id)


def survey_details(ids) -> dict[int, dict]:
    """Per survey id (a list, or survey_ids(...)): its case manager's name and the surveyed service's title."""
    if isinstance(ids, list) and not ids:
        return {}
    rows = db.session.execute(
        select(SatisfactionSurvey.id, survey_manager_column(), CareTask.title)
        .outerjoin(CareTask, CareTask.id == SatisfactionSurvey.task_id)
        .outerjoin(Enrolment, (Enrolment.patient_id == SatisfactionSurvey.patient_id)
                   & (Enrolment.status == "active"))
        .where(SatisfactionSurvey.id.in_(ids))).all()
    manager_ids = {m for _, m, _ in rows if m}
    names = {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(manager_ids)))} \
        if manager_ids else {}
    return {sid: {"manager": names.get(mid, ""), "service": title or ""} for sid, mid, title in rows}


def survey_summary(stmt: Select) -> dict:
    """How many surveys, their mean scores and the share satisfied (mean of the three >= 4)."""
    sub = stmt.order_by(None).subquery()
    # A mean of 4 or more is a sum of 12 or more: compared in integers, no rounding.
    total = sub.c.timeliness + sub.c.effectiveness + sub.c.attitude
    count, t, e, a, satisfied = db.session.execute(select(
        func.count(), func.avg(sub.c.timeliness), func.avg(sub.c.effectiveness), func.avg(sub.c.attitude),
        func.sum(case((total >= 12, 1), else_=0)))).one()
    if not count:
        return {"count": 0}
    return {"count": count, "timeliness": float(t), "effectiveness": float(e), "attitude": float(a),
            "satisfied": int(satisfied or 0) / count}


# --- adverse events and complaints -------------------------------------------------------------------------


def scope_events(stmt: Select, user: User) -> Select:
    """Everyone's with casemgmt.view_all; otherwise those of one's patients and those one registered."""
    if sees_all(user):
        return stmt
    return stmt.where(or_(AdverseEvent.case_manager_id == user.id, AdverseEvent.created_by_id == user.id))


def get_event_or_404(event_id, user: User) -> AdverseEvent:
    event = get_or_404(AdverseEvent, event_id)
    if not sees_all(user) and user.id not in (event.case_manager_id, event.created_by_id):
        abort(404)
    return event


@dataclass
class EventFilters:
    kind: str = ""
    severity: str = ""
    status: str = ""
    month: date | None = None


def event_query(user: User, filters: EventFilters) -> Select:
    stmt = scope_events(select(AdverseEvent), user)
    if filters.kind:
        stmt = stmt.where(AdverseEvent.kind == filters.kind)
    if filters.severity:
        stmt = stmt.where(AdverseEvent.severity == filters.severity)
    if filters.status:
        stmt = stmt.where(AdverseEvent.status == filters.status)
    if filters.month:
        start, end = month_bounds(filters.month)
        stmt = stmt.where(AdverseEvent.occurred_on.between(start, end))
    return (stmt.options(selectinload(AdverseEvent.case_manager).selectinload(User.staff))
            .order_by(AdverseEvent.occurred_on.desc(), AdverseEvent.id.desc()))


def _text(value: str | None, field: str, label: str, required: bool = True) -> str:
    text = clean(value)
    if required and not text:
        raise ServiceError(f"请填写{label}。", field=field)
    if len(text) > MAX_TEXT:
        raise ServiceError(f"{label}不超过 {MAX_TEXT} 字。", field=field)
    return text


def _label(event: AdverseEvent) -> str:
    who = event.patient.masked_name if event.patient else "未关联患者"
    return f"{event.kind_label} {event.occurred_on:%Y-%m-%d} {who}"


def register_event(user: User, *, kind: str, occurred_on: date, severity: str, description: str,
                   patient: Patient | None = None, today: date | None = None) -> AdverseEvent:
    """Register an adverse event or complaint; a severe or critical one is told to the supervisors at once."""
    today = today or local_today()
    if kind not in EVENT_KINDS:
        raise ServiceError("请选择类别（不良事件或投诉）。", field="kind")
    if severity not in SEVERITIES:
        raise ServiceError("请选择严重程度。", field="severity")
    if not isinstance(occurred_on, date):
        raise ServiceError("请填写发生日期。", field="occurred_on")
    if occurred_on > today:
        raise ServiceError("发生日期不能晚于今天。", field="occurred_on")
    if occurred_on < today - timedelta(days=EVENT_DAYS_BACK):
        raise ServiceError("只能登记一年以内发生的事件。", field="occurred_on")
    description = _text(description, "description", "事件经过")
    enrolment = patient.active_enrolment if patient is not None else None
    # The patient's case manager follows it up; without one, whoever registered it.
    manager_id = enrolment.case_manager_id if enrolment and enrolment.case_manager_id else user.id
    event = AdverseEvent(kind=kind, patient_id=patient.id if patient else None, occurred_on=occurred_on,
                         severity=severity, description=description, handling="", status="open",
                         case_manager_id=manager_id, created_by_id=user.id)
    db.session.add(event)
    db.session.flush()
    audit.record("create", "adverse_event", event.id, label=_label(event), after=audit.snapshot(event, EVENT_FIELDS))
    if severity in URGENT_SEVERITIES:
        supervisors = [uid for uid in active_user_ids_with_roles(("cm_supervisor",)) if uid != user.id]
        notify(supervisors, "casemgmt", f"{event.severity_label}{event.kind_label}待处理：{event.occurred_on:%m月%d日}",
               f"{_label(event)}。{description[:120]}", link=f"/casemgmt/events/{event.id}")
    return event


def _guarded_update(event: AdverseEvent, values: dict) -> None:
    """Change an event only while it is not closed: of two people closing it at once, one wins."""
    changed = db.session.execute(update(AdverseEvent).where(AdverseEvent.id == event.id,
                                                            AdverseEvent.status != "closed")
                                 .values(**values, updated_at=utcnow())
                                 .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        db.session.refresh(event)
        raise Conflict("该事件已关闭，不能再修改。")
    db.session.refresh(event)


def update_event_handling(event: AdverseEvent, handling: str, status: str) -> AdverseEvent:
    """Record how the event is being handled; it stays open or moves to handling (closing is close_event)."""
    if event.status == "closed":
        raise Conflict("该事件已关闭，不能再修改。")
    if status not in EVENT_STATES or status == "closed":
        raise ServiceError("请选择“待处理”或“处理中”；关闭事件请使用“关闭事件”。", field="status")
    if event.status == "handling" and status == "open":
        raise ServiceError("处理中的事件不能退回待处理。", field="status")
    handling = _text(handling, "handling", "处理经过")
    before = audit.snapshot(event, EVENT_FIELDS)
    if before["handling"] == handling and before["status"] == status:
        return event
    _guarded_update(event, {"handling": handling, "status": status})
    audit.record("update", "adverse_event", event.id, label=_label(event), before=before,
                 after=audit.snapshot(event, EVENT_FIELDS))
    return event


def close_event(event: AdverseEvent, handling: str = "") -> AdverseEvent:
    """Close an event with its handling and result written down; afterwards it is read-only."""
    if event.status == "closed":
        raise Conflict("该事件已关闭，不能再修改。")
    text = _text(handling, "handling", "处理经过与结果", required=False) or event.handling
    if not text:
        raise ServiceError("关闭前请填写处理经过与结果。", field="handling")
    before = audit.snapshot(event, EVENT_FIELDS)
    _guarded_update(event, {"handling": text, "status": "closed", "closed_at": utcnow()})
    audit.record("close", "adverse_event", event.id, label=_label(event), before=before,
                 after=audit.snapshot(event, EVENT_FIELDS))
    return event


def event_history(event: AdverseEvent) -> list:
    """The event's audit trail, oldest first: registration, handling updates, closure."""
    from portal.core.audit import AuditLog

    return list(db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "adverse_event",
                                                          AuditLog.entity_id == str(event.id))
                                   .order_by(AuditLog.id)))
