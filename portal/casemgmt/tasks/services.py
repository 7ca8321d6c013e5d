"""Daily task lists: built from the next-day plan and the pathways, completed on the ward tablets.

A day's list is every open task due on or before that day (earlier ones are carried over and shown
as overdue) plus the day's finished ones. Building is idempotent: a plan item makes at most one task
(unique plan_item_id), a pathway step occurrence at most one (unique enrolment, step, occurrence),
and a rebuild never touches what is done or was reassigned by hand.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, func, insert, literal, null, or_, select, text, tuple_, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from portal.auth.models import User
from portal.core import audit
from portal.core.models import UTCDateTime
from portal.core.service import Conflict, ServiceError, atomic, clean
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db
from portal.notify.services import notify

from ..ledger import summary as ledger_summary
from ..models import (
    OUTCOMES,
    TASK_TYPES,
    CareTask,
    Enrolment,
    PathwayStep,
    Plan,
    PlanItem,
    SatisfactionSurvey,
    TaskListBuild,
    WardCoverage,
)

PLAN_FIELDS = ("task_type", "ward_id", "bed", "time_slot", "special_needs", "special_note")
MAX_OUTCOME_VALUE = 200
BUILD_LOCK_KEY = 0x7461736B  # "task": the advisory lock key for building task lists


@dataclass
class BuildResult:
    day: date
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    carried_over: int = 0
    unassigned: int = 0
    new_task_ids: list[int] = field(default_factory=list)


class _Assigner:
    """Whose list a task goes on: the patient's case manager, else the least-loaded one covering the ward."""

    def __init__(self, day: date):
        self.day = day
        self.load = Counter(dict(db.session.execute(
            select(CareTask.case_manager_id, func.count()).where(CareTask.due_date == day,
                                                                 CareTask.status != "cancelled",
                                                                 CareTask.case_manager_id.is_not(None))
            .group_by(CareTask.case_manager_id)).all()))
        self.coverage: dict[int, list[int]] = {}
        rows = db.session.execute(select(WardCoverage.ward_id, WardCoverage.case_manager_id)
                                  .join(User, User.id == WardCoverage.case_manager_id)
                                  .where(User.is_active_flag).order_by(WardCoverage.case_manager_id))
        for ward_id, user_id in rows:
            self.coverage.setdefault(ward_id, []).append(user_id)

    def pick(self, enrolment: Enrolment | None, ward_id: int | None) -> int | None:
        if enrolment is not None and enrolment.case_manager_id is not None:
            chosen = enrolment.case_manager_id
        else:
            candidates = self.coverage.get(ward_id or (enrolment.ward_id if enrolment else None), [])
            if not candidates:
                return None
            chosen = min(candidates, key=lambda uid: (self.load[uid], uid))
        self.load[chosen] += 1
        return chosen


@dataclass(slots=True)
class _EnrolmentRow:
    """The columns of an active enrolment the build needs (plain rows: no ORM entities, no joined ward)."""

    id: int
    patient_id: int
    case_manager_id: int | None
    ward_id: int | None
    bed: str
    pathway_version_id: int | None
    start_date: date
    end_date: date | None
    admission_date: date | None
    surgery_date: date | None
    discharge_date: date | None

    anchor_date = Enrolment.anchor_date


_ENROLMENT_COLUMNS = tuple(getattr(Enrolment, name) for name in _EnrolmentRow.__dataclass_fields__)


def _active_enrolments(plan_id: int) -> dict[int, _EnrolmentRow]:
    """The active enrolment of every patient on a plan, in one query."""
    rows = db.session.execute(select(*_ENROLMENT_COLUMNS)
                              .where(Enrolment.status == "active",
                                     Enrolment.patient_id.in_(select(PlanItem.patient_id)
                                                              .where(PlanItem.plan_id == plan_id)))
                              .order_by(Enrolment.id))
    return {row.patient_id: _EnrolmentRow(*row) for row in rows}


def _insert_tasks(rows: list[dict]) -> None:
    """New tasks in one bulk INSERT (no flush, no RETURNING per task)."""
    if rows:
        db.session.execute(insert(CareTask.__table__), rows)


def _task_row(**values) -> dict:
    """Every column a built task sets, so that all rows share one INSERT statement."""
    row = {"window_end": None, "enrolment_id": None, "plan_item_id": None, "pathway_step_id": None,
           "occurrence": 1, "bed": "", "time_slot": "any", "special_needs": [], "special_note": "",
           "outcome_fields": [], "note": ""}
    row.update(values)
    return row


def _sync_plan_items(plan: Plan, result: BuildResult, assigner: _Assigner) -> None:
    items = db.session.scalars(select(PlanItem).where(PlanItem.plan_id == plan.id).order_by(PlanItem.id)).all()
    existing = {t.plan_item_id: t for t in db.session.scalars(
        select(CareTask).join(PlanItem, PlanItem.id == CareTask.plan_item_id)
        .where(PlanItem.plan_id == plan.id))} if items else {}
    enrolments = _active_enrolments(plan.id) if items else {}
    new_rows = []
    for item in items:
        task = existing.get(item.id)
        if item.is_cancelled or item.patient_id is None:
            if task is not None and task.status == "open":
                task.status = "cancelled"
                result.cancelled += 1
            continue
        enrolment = enrolments.get(item.patient_id)
        title = item.service_item or TASK_TYPES.get(item.task_type, "")
        if task is None:
            manager = assigner.pick(enrolment, item.ward_id)
            new_rows.append(_task_row(due_date=plan.plan_date, first_due_date=plan.plan_date,
                                      case_manager_id=manager, patient_id=item.patient_id,
                                      enrolment_id=enrolment.id if enrolment else None, source="plan",
                                      plan_item_id=item.id, title=title[:100],
                                      **{k: getattr(item, k) for k in PLAN_FIELDS}))
            result.created += 1
            if manager is None:
                result.unassigned += 1
            continue
        if task.status == "cancelled" and not item.is_cancelled:
            task.status = "open"  # the item came back in a revision
        if task.status != "open":
            continue  # done work is history: a revision does not rewrite it
        wanted = {k: getattr(item, k) for k in PLAN_FIELDS} | {"title": title[:100]}
        if any(getattr(task, k) != v for k, v in wanted.items()):
            for key, value in wanted.items():
                setattr(task, key, value)
            result.updated += 1
        if task.case_manager_id is None and not task.assigned_by_hand:
            task.case_manager_id = assigner.pick(enrolment, item.ward_id)
    db.session.flush()
    _insert_tasks(new_rows)
    if new_rows:
        result.new_task_ids.extend(db.session.scalars(
            select(CareTask.id).join(PlanItem, PlanItem.id == CareTask.plan_item_id)
            .where(PlanItem.plan_id == plan.id, CareTask.plan_item_id.in_([r["plan_item_id"] for r in new_rows]))
            .order_by(CareTask.id)))


def step_occurrences(step: PathwayStep, enrolment: Enrolment) -> list[tuple[int, date, date]]:
    """(occurrence, due date, last day of its window) for every occurrence of a step in an enrolment."""
    anchor = enrolment.anchor_date(step.anchor)
    if anchor is None:
        return []
    out = []
    for k in range(step.occurrences):
        due = anchor + timedelta(days=step.offset_days + k * (step.recur_every_days or 0))
        if enrolment.end_date is not None and due > enrolment.end_date:
            break
        out.append((k + 1, due, due + timedelta(days=max(0, step.window_days))))
    return out


def _sync_pathway_steps(day: date, result: BuildResult, assigner: _Assigner) -> None:
    """Every step occurrence due by `day` whose window is still open becomes a task, once."""
    active = (Enrolment.status == "active", Enrolment.pathway_version_id.is_not(None), Enrolment.start_date <= day)
    enrolments = [_EnrolmentRow(*row) for row in db.session.execute(
        select(*_ENROLMENT_COLUMNS).where(*active).order_by(Enrolment.id))]
    if not enrolments:
        return
    version_ids = {e.pathway_version_id for e in enrolments}
    steps: dict[int, list[PathwayStep]] = {}
    for step in db.session.scalars(select(PathwayStep).where(PathwayStep.version_id.in_(version_ids))
                                   .order_by(PathwayStep.position)):
        steps.setdefault(step.version_id, []).append(step)
    due_now = [(enrolment, step, occurrence, due, window_end)
               for enrolment in enrolments for step in steps.get(enrolment.pathway_version_id, [])
               for occurrence, due, window_end in step_occurrences(step, enrolment)
               if due <= day <= window_end]
    if not due_now:
        return
    # What exists already: the due occurrences probed on their unique key, not every task of those steps.
    wanted = sorted({(c[0].id, c[1].id, c[2]) for c in due_now})
    key = tuple_(CareTask.enrolment_id, CareTask.pathway_step_id, CareTask.occurrence)
    made = {tuple(row) for start in range(0, len(wanted), 1000) for row in db.session.execute(
        select(CareTask.enrolment_id, CareTask.pathway_step_id, CareTask.occurrence)
        .where(key.in_(wanted[start:start + 1000])))}
    new_rows = []
    for enrolment, step, occurrence, due, window_end in due_now:
        if (enrolment.id, step.id, occurrence) in made:
            continue
        manager = assigner.pick(enrolment, enrolment.ward_id)
        title = step.title if step.occurrences == 1 else f"{step.title}（第 {occurrence} 次）"
        new_rows.append(_task_row(due_date=due, first_due_date=due, window_end=window_end, case_manager_id=manager,
                                  patient_id=enrolment.patient_id, enrolment_id=enrolment.id, source="pathway",
                                  pathway_step_id=step.id, occurrence=occurrence, task_type=step.task_type,
                                  title=title[:100], ward_id=enrolment.ward_id, bed=enrolment.bed,
                                  outcome_fields=list(step.outcome_fields or [])))
        made.add((enrolment.id, step.id, occurrence))
        result.created += 1
        if manager is None:
            result.unassigned += 1
    _insert_tasks(new_rows)


def _lock_builds() -> None:
    """One build or plan sync at a time (the cron job and a supervisor's button may meet).

    SQLite writers are serialised already (BEGIN IMMEDIATE); PostgreSQL takes a transaction lock.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": BUILD_LOCK_KEY})


def build_daily_tasks(day: date) -> BuildResult:
    """Build (or rebuild) every case manager's list for `day`; safe to run any number of times."""
    _lock_builds()
    result = BuildResult(day)
    assigner = _Assigner(day)
    now = utcnow()
    plan = db.session.scalar(select(Plan).where(Plan.plan_date == day))
    if plan is not None:
        _sync_plan_items(plan, result, assigner)
        plan.built_at = now
    _sync_pathway_steps(day, result, assigner)
    db.session.flush()
    result.carried_over = db.session.scalar(select(func.count()).select_from(CareTask).where(
        CareTask.status == "open", CareTask.due_date < day))
    counts = {"created": result.created, "updated": result.updated, "cancelled": result.cancelled,
              "carried_over": result.carried_over, "unassigned": result.unassigned}
    build = db.session.scalar(select(TaskListBuild).where(TaskListBuild.day == day))
    if build is None:
        db.session.add(TaskListBuild(day=day, built_at=now, builds=1, last_result=counts))
    else:
        build.built_at, build.builds, build.last_result = now, build.builds + 1, counts
    audit.record("build", "care_task_list", day.isoformat(), label=f"{day:%Y-%m-%d} 任务清单", changes=counts)
    return result


def apply_plan_revision(plan: Plan) -> BuildResult | None:
    """A plan changed after its lists were built: bring the lists up to date and tell whoever got new work.

    The lists count as built when this plan was part of a build, or when the day was built before the
    plan existed at all (a plan submitted after the 17:05 build).
    """
    if plan.built_at is None:
        built = db.session.scalar(select(TaskListBuild.built_at).where(TaskListBuild.day == plan.plan_date))
        if built is None:
            return None
        plan.built_at = built
    _lock_builds()
    result = BuildResult(plan.plan_date)
    _sync_plan_items(plan, result, _Assigner(plan.plan_date))
    db.session.flush()
    managers = Counter(db.session.scalars(select(CareTask.case_manager_id).where(
        CareTask.id.in_(result.new_task_ids), CareTask.case_manager_id.is_not(None))).all()) \
        if result.new_task_ids else Counter()
    for user_id, count in managers.items():
        notify([user_id], "casemgmt", f"{plan.plan_date:%m月%d日}的任务清单新增 {count} 项",
               "次日服务计划在清单生成后有补充，请查看今日任务。", link=f"/casemgmt/tasks?day={plan.plan_date}")
    return result


def can_act_on(task: CareTask, user: User, may_assign: bool) -> bool:
    return may_assign or task.case_manager_id == user.id


def _check_actor(task: CareTask, user: User, may_assign: bool) -> None:
    if not can_act_on(task, user, may_assign):
        raise ServiceError("这不是您的任务，不能代为处理。", status=403)


def _claim(task: CareTask, values: dict) -> None:
    """Change an open task only if it is still open: of two tablets completing it at once, one wins. The changed
    columns come back with the UPDATE (values worked out in SQL included), so the task is not read again."""
    table = CareTask.__table__
    row = db.session.execute(update(table).where(table.c.id == task.id, table.c.status == "open").values(**values)
                             .returning(*(table.c[name] for name in values))).first()
    if row is None:
        db.session.refresh(task)
        who = task.completed_by.display_name if task.completed_by else "他人"
        raise Conflict(f"该任务已由{who}处理（{task.status_label}），无需重复提交。")
    for name, value in row._mapping.items():
        set_committed_value(task, name, value)
    db.session.expire(task, ["completed_by"])  # its key may have changed


def _outcome_values(task: CareTask, values: dict | None) -> dict:
    out = {}
    for label in task.outcome_fields or []:
        value = clean((values or {}).get(label))
        if len(value) > MAX_OUTCOME_VALUE:
            raise ServiceError(f"“{label}”不超过 {MAX_OUTCOME_VALUE} 个字符。", field="outcome_values")
        if value:
            out[label] = value
    return out


@atomic()
def complete_task(task: CareTask, user: User, *, outcome: str, may_assign: bool = False,
                  values: dict | None = None, note: str = "", score: int | None = None,
                  reschedule_to: date | None = None, today: date | None = None) -> CareTask:
    """Record a task's outcome; rescheduling moves it to another day instead of closing it."""
    _check_actor(task, user, may_assign)
    if outcome not in OUTCOMES:
        raise ServiceError("请选择服务结果。", field="outcome")
    note = clean(note)
    if len(note) > 500:
        raise ServiceError("备注不超过 500 字。", field="note")
    if score is not None and not 1 <= score <= 5:
        raise ServiceError("满意度评分应为 1–5 分。", field="score")
    today = today or local_today()
    if outcome == "rescheduled":
        if reschedule_to is None or reschedule_to <= today:
            raise ServiceError("请选择改期到的日期（明天或以后）。", field="reschedule_to")
        if reschedule_to > today + timedelta(days=90):
            raise ServiceError("改期不能超过 90 天。", field="reschedule_to")
        before = task.due_date
        # Counted in SQL: two tablets rescheduling at once both count.
        _claim(task, {"due_date": reschedule_to, "reschedule_count": CareTask.reschedule_count + 1,
                      "note": note or task.note, "updated_at": utcnow()})
        audit.record("reschedule", "care_task", task.id, label=task.title,
                     changes={"due_date": {"from": before, "to": reschedule_to}})
        return task
    clean_values = _outcome_values(task, values)
    now = utcnow()
    if outcome == "not_reached":
        _record_attempt(task, user, note, clean_values, now)
        score = None  # nobody was reached: there is nothing to rate
    else:
        _claim(task, {"status": CLOSING_STATES[outcome], "outcome": outcome, "outcome_values": clean_values,
                      "note": note, "completed_at": now, "completed_by_id": user.id, "updated_at": now})
    if task.is_closed:  # one ledger row per task (unique): its closing outcome; open attempts are on the task
        enrolment = task.enrolment
        values = dict(service_date=today, patient_id=task.patient_id, enrolment_id=task.enrolment_id,
                      case_manager_id=task.case_manager_id or user.id, task_id=task.id,
                      task_type=task.task_type, title=task.title, outcome=outcome,
                      icd10_code=enrolment.icd10_code if enrolment else "",
                      disease_name=enrolment.disease_name if enrolment else "", ward_id=task.ward_id, note=note)
        ledger_summary.write_task_entry(values)
    if score is not None:
        db.session.add(SatisfactionSurvey(patient_id=task.patient_id, task_id=task.id,
                                          survey_month=today.replace(day=1), timeliness=score,
                                          effectiveness=score, attitude=score, comment="任务完成时的快速评分"))
    db.session.flush()
    changes = {"outcome": outcome, "status": task.status, "values": clean_values, "score": score}
    if outcome == "not_reached":
        changes["attempts"] = task.attempts
    audit.record("complete", "care_task", task.id, label=task.title, changes=changes)
    if task.status == "unreached":
        _flag_to_supervisors(task, user)
    return task


CLOSING_STATES = {"reached": "done", "declined": "declined"}


def max_attempts() -> int:
    return max(1, int(current_app.config.get("CM_MAX_ATTEMPTS", 3)))


def _record_attempt(task: CareTask, user: User, note: str, values: dict, now) -> None:
    """One more "not reached": the task stays open (carried to the next day) until the last allowed attempt.

    Counted in SQL under the same "still open" condition as a completion: two tablets recording an
    attempt at once both count, and an attempt racing a completion loses cleanly (409).
    """
    last = CareTask.attempts + 1 >= max_attempts()
    stamp = literal(now, UTCDateTime())
    _claim(task, {"attempts": CareTask.attempts + 1, "last_attempt_at": now, "outcome": "not_reached",
                  "outcome_values": values, "note": note or task.note, "updated_at": now,
                  "status": case((last, "unreached"), else_="open"),
                  "completed_at": case((last, stamp), else_=null()),
                  "completed_by_id": case((last, user.id), else_=null()),
                  "flagged_at": case((last, stamp), else_=null())})


def _flag_to_supervisors(task: CareTask, user: User) -> None:
    from portal.auth.queries import active_user_ids_with_roles

    supervisors = [uid for uid in active_user_ids_with_roles(("cm_supervisor",)) if uid != user.id]
    notify(supervisors, "casemgmt", f"{task.patient.masked_name}连续 {task.attempts} 次未联系上，请跟进",
           f"{task.title}（{task.ward.name if task.ward else '未指定病区'} {task.bed}）已停止结转，等待组长处理。",
           link=f"/casemgmt/tasks/overview?day={local_today()}#flagged")


FLAGGED_PAGE = 24  # flagged cards shown at once on the overview; the rest behind 显示更多


def _flagged(after: tuple[datetime, int] | None = None) -> list:
    """Flagged and not yet handled; after: only those after this (flagged_at, id) in the list's order."""
    conditions = [CareTask.status == "unreached", CareTask.flagged_at.is_not(None)]
    if after is not None:
        at, task_id = after
        conditions.append(or_(CareTask.flagged_at > at, and_(CareTask.flagged_at == at, CareTask.id > task_id)))
    return conditions


def flagged_tasks(after: tuple[datetime, int] | None = None, limit: int = FLAGGED_PAGE) -> list[CareTask]:
    """Tasks closed after too many "not reached" attempts that the supervisor has not handled yet, oldest first:
    one batch of cards (hundreds can pile up), the next batch starting after the last card shown (so a card
    handled meanwhile makes none skip)."""
    return list(db.session.scalars(select(CareTask).where(*_flagged(after))
                                   .options(joinedload(CareTask.case_manager), joinedload(CareTask.completed_by))
                                   .order_by(CareTask.flagged_at, CareTask.id).limit(limit)))


def flagged_count(after: tuple[datetime, int] | None = None) -> int:
    return db.session.scalar(select(func.count()).select_from(CareTask).where(*_flagged(after))) or 0


@atomic()
def reopen_task(task: CareTask, to_user_id: int, today: date | None = None) -> CareTask:
    """The supervisor gives a flagged task another round: open again on today's list of the chosen case manager."""
    from ..patients.services import is_case_manager

    if not is_case_manager(to_user_id):
        raise ServiceError("请选择在岗的个案管理师。", field="case_manager_id")
    today = today or local_today()
    changed = db.session.execute(update(CareTask).where(CareTask.id == task.id, CareTask.status == "unreached",
                                                        CareTask.flagged_at.is_not(None))
                                 .values(status="open", attempts=0, flagged_at=None, completed_at=None,
                                         completed_by_id=None, due_date=today, case_manager_id=to_user_id,
                                         assigned_by_hand=True, updated_at=utcnow())
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(task)
    if changed != 1:
        raise Conflict("该任务已由他人处理。")
    audit.record("reassign", "care_task", task.id, label=task.title,
                 changes={"status": {"before": "unreached", "after": "open"}, "case_manager_id": to_user_id})
    notify([to_user_id], "casemgmt", "组长重新安排了一项未联系上的任务", task.title,
           link=f"/casemgmt/tasks?day={today}")
    return task


@atomic()
def dismiss_flag(task: CareTask) -> CareTask:
    """The supervisor has dealt with a flagged task (e.g. reached the family another way): it leaves the list."""
    changed = db.session.execute(update(CareTask).where(CareTask.id == task.id, CareTask.flagged_at.is_not(None))
                                 .values(flagged_at=None, updated_at=utcnow())
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(task)
    if changed != 1:
        raise Conflict("该任务已由他人处理。")
    audit.record("close", "care_task", task.id, label=task.title, changes={"flagged": {"before": True, "after": False}})
    return task


@atomic()
def reassign_task(task: CareTask, to_user_id: int) -> CareTask:
    """The supervisor moves an open task to another case manager; rebuilding keeps this choice."""
    from ..patients.services import is_case_manager

    if not is_case_manager(to_user_id):
        raise ServiceError("请选择在岗的个案管理师。", field="case_manager_id")
    before = task.case_manager_id
    # Only while still open: a completion at the same moment keeps its case manager.
    changed = db.session.execute(update(CareTask).where(CareTask.id == task.id, CareTask.status == "open")
                                 .values(case_manager_id=to_user_id, assigned_by_hand=True, updated_at=utcnow())
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(task)
    if changed != 1:
        raise Conflict("只能改派未完成的任务。")
    audit.record("reassign", "care_task", task.id, label=task.title,
                 changes={"case_manager_id": {"from": before, "to": to_user_id}})
    notify([to_user_id], "casemgmt", "您有一项改派来的任务", task.title, link=f"/casemgmt/tasks?day={task.due_date}")
    return task
