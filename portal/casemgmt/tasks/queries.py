"""Read side of the daily task lists: one case manager's day, its counts, and the supervisor's overview.

A day's list (see tasks.py) is every open task due on or before the day (earlier ones are carried
over: overdue) plus the tasks finished that day. Each function here is one query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from portal.auth.models import Department, Role, User, user_roles
from portal.core import reveal
from portal.core.timeutil import local_day_bounds
from portal.extensions import db

from ..models import CLOSED_STATES, TIME_SLOTS, CareTask, Patient
from ..scoping import scope_to_manager

# A case manager has some tens of tasks a day; past this the list asks for a filter instead of paging.
MAX_TASKS = 500
SLOT_RANK = {code: rank for rank, code in enumerate(TIME_SLOTS)}
NO_WARD = "未指定病区"


# The task list's grouping and status filters (TaskFilters).
GROUPS = {"slot": "按时段", "ward": "按病区"}
STATUSES = {"all": "全部状态", "open": "待完成", "done": "已处理"}


@dataclass
class TaskFilters:
    day: date
    manager_id: int | None  # None: the whole team (a supervisor's default view)
    group: str = "slot"  # slot / ward
    ward_id: int | None = None
    task_type: str = ""
    status: str = "all"  # open / done / all
    q: str = ""

    @property
    def narrowed(self) -> bool:
        return bool(self.ward_id or self.task_type or self.status != "all" or self.q)


@dataclass
class DayCounts:
    open: int = 0
    done: int = 0
    overdue: int = 0
    wards: list[tuple[int, str]] = field(default_factory=list)  # the wards on the list, for the filter

    @property
    def total(self) -> int:
        return self.open + self.done


@dataclass
class TaskGroup:
    key: str
    label: str
    tasks: list[CareTask] = field(default_factory=list)

    @property
    def open(self) -> int:
        return sum(1 for t in self.tasks if t.status == "open")

    @property
    def done(self) -> int:
        return sum(1 for t in self.tasks if t.is_closed)


@dataclass
class ManagerDay:
    user_id: int | None
    name: str
    open: int = 0
    done: int = 0
    overdue: int = 0

    @property
    def total(self) -> int:
        return self.open + self.done


def done_on(day: date):
    """Closed (done, declined, unreached) that day, or due that day and closed (early) before it.

    Written as an OR of two conjunctions, each matching an index (status + due date; completion time), so
    the planner combines two index scans instead of reading every closed task of five years.
    """
    start, end = local_day_bounds(day)
    closed = CareTask.status.in_(CLOSED_STATES)
    return or_(and_(closed, CareTask.due_date == day),
               and_(closed, CareTask.completed_at >= start, CareTask.completed_at < end))


def on_list(day: date):
    return or_(and_(CareTask.status == "open", CareTask.due_date <= day), *done_on(day).clauses)


def overdue_on(day: date):
    return and_(CareTask.status == "open", CareTask.due_date < day)


def _search(q: str):
    """A bed ("12床", "12": exact or prefix) or the patient's masked name ("张", "张*丰"; "张三丰" reads as 张*丰)."""
    bed = q.removesuffix("床").strip()
    terms = [CareTask.bed == q]
    if bed:
        terms += [CareTask.bed == bed, CareTask.bed.startswith(bed, autoescape=True)]
    name = None if q.endswith("床") else reveal.masked_name_condition(Patient.name, q)
    if name is not None:
        terms.append(name)  # the characters the mask hides are never compared (portal.core.reveal)
    return or_(*terms)


def day_tasks(filters: TaskFilters, user) -> list[CareTask]:
    """One manager's list for a day, filtered; patients, wards and who finished each task in the same query."""
    return list(db.session.scalars(day_tasks_query(filters, user).limit(MAX_TASKS)).unique())


def day_tasks_query(filters: TaskFilters, user) -> Select:
    """The select behind a day's list (overdue and open first), for the page and its export."""
    day = filters.day
    stmt = (select(CareTask).join(CareTask.patient).outerjoin(CareTask.ward)
            .options(contains_eager(CareTask.patient), contains_eager(CareTask.ward),
                     joinedload(CareTask.completed_by), joinedload(CareTask.case_manager)))
    if filters.manager_id is not None:
        stmt = stmt.where(CareTask.case_manager_id == filters.manager_id)
    stmt = scope_to_manager(stmt, CareTask.case_manager_id, user)
    if filters.status == "open":
        stmt = stmt.where(CareTask.status == "open", CareTask.due_date <= day)
    elif filters.status == "done":
        stmt = stmt.where(done_on(day))
    else:
        stmt = stmt.where(on_list(day))
    if filters.ward_id:
        stmt = stmt.where(CareTask.ward_id == filters.ward_id)
    if filters.task_type:
        stmt = stmt.where(CareTask.task_type == filters.task_type)
    if filters.q:
        stmt = stmt.where(_search(filters.q))
    # Overdue and open first, so that the cap never hides what is still to do.
    return stmt.order_by(case((overdue_on(day), 0), else_=1), case((CareTask.status == "open", 0), else_=1),
                         CareTask.due_date, CareTask.id)


def day_counts(day: date, manager_id: int | None, user) -> DayCounts:
    """Open, closed and overdue on a manager's (None: the team's) whole list for the day, and its wards."""
    stmt = (select(CareTask.ward_id, Department.name, CareTask.status, func.count(),
                   func.sum(case((CareTask.due_date < day, 1), else_=0)))
            .outerjoin(Department, Department.id == CareTask.ward_id)
            .where(on_list(day))
            .group_by(CareTask.ward_id, Department.name, CareTask.status))
    if manager_id is not None:
        stmt = stmt.where(CareTask.case_manager_id == manager_id)
    stmt = scope_to_manager(stmt, CareTask.case_manager_id, user)
    counts = DayCounts()
    wards: dict[int, str] = {}
    for ward_id, ward_name, status, number, late in db.session.execute(stmt):
        if status == "open":
            counts.open += number
            counts.overdue += int(late or 0)
        else:
            counts.done += number
        if ward_id is not None:
            wards[ward_id] = ward_name
    counts.wards = sorted(wards.items(), key=lambda pair: pair[1])
    return counts


def _bed_key(bed: str) -> tuple:
    match = re.match(r"\d+", bed or "")
    return (0, int(match.group()), bed) if match else (1, 0, bed or "")


def group_tasks(items: list[CareTask], day: date, by: str) -> list[TaskGroup]:
    """Overdue first, then by time slot (上午 … 全天) or by ward; open before done within a group."""
    def group_of(task: CareTask) -> tuple[tuple, str, str]:
        if task.is_overdue(day):
            return (0,), "overdue", "逾期未完成（结转）"
        if by == "ward":
            name = task.ward.name if task.ward else NO_WARD
            return (1, task.ward is None, name), f"ward-{task.ward_id or 0}", name
        return (1, SLOT_RANK.get(task.time_slot, 99)), f"slot-{task.time_slot}", task.time_slot_label

    keyed = sorted(((group_of(t), t) for t in items), key=lambda pair: (
        pair[0][0], pair[1].status != "open", SLOT_RANK.get(pair[1].time_slot, 99), _bed_key(pair[1].bed),
        pair[1].id))
    groups: dict[str, TaskGroup] = {}
    for (_, key, label), task in keyed:
        groups.setdefault(key, TaskGroup(key, label)).tasks.append(task)
    return list(groups.values())


def case_managers() -> list[tuple[int, str]]:
    """Active case managers, (id, name), for the manager picker and the reassign control."""
    rows = db.session.scalars(select(User).join(user_roles, user_roles.c.user_id == User.id)
                              .join(Role, Role.id == user_roles.c.role_id)
                              .where(Role.code == "case_manager", User.is_active_flag)).unique()
    return sorted(((u.id, u.display_name) for u in rows), key=lambda pair: (pair[1], pair[0]))


def overview(day: date, managers: list[tuple[int, str]]) -> tuple[list[ManagerDay], ManagerDay]:
    """Per case manager (from case_managers()): open, done and overdue on the day's list; and for unassigned."""
    stmt = (select(CareTask.case_manager_id,
                   func.sum(case((CareTask.status == "open", 1), else_=0)),
                   func.sum(case((CareTask.status.in_(CLOSED_STATES), 1), else_=0)),
                   func.sum(case((overdue_on(day), 1), else_=0)))
            .where(on_list(day)).group_by(CareTask.case_manager_id))
    numbers = {uid: (int(o or 0), int(d or 0), int(late or 0)) for uid, o, d, late in db.session.execute(stmt)}
    rows = [ManagerDay(uid, name, *numbers.pop(uid, (0, 0, 0))) for uid, name in managers]
    unassigned = ManagerDay(None, "未分派", *numbers.pop(None, (0, 0, 0)))
    if numbers:  # tasks of someone who is no longer an active case manager still count
        others = db.session.scalars(select(User).where(User.id.in_(list(numbers)))).unique()
        rows += [ManagerDay(u.id, f"{u.display_name}（已停用或非个案管理师）", *numbers[u.id]) for u in others]
    return rows, unassigned


def unassigned_tasks(day: date) -> list[CareTask]:
    """Open tasks on nobody's list (no case manager covers the ward): the supervisor places them."""
    stmt = (select(CareTask).join(CareTask.patient).outerjoin(CareTask.ward)
            .options(contains_eager(CareTask.patient), contains_eager(CareTask.ward))
            .where(CareTask.case_manager_id.is_(None), CareTask.status == "open", CareTask.due_date <= day)
            .order_by(CareTask.due_date, CareTask.ward_id, CareTask.id).limit(MAX_TASKS))
    return list(db.session.scalars(stmt).unique())
