"""Read side of the daily task lists: one case manager's day, its counts, and the supervisor's overview.

A day's list (see tasks.py) is every open task due on or before the day (earlier ones are carried
over: overdue) plus the tasks finished that day. Each function here is one query.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, Text, and_, bindparam, case, cast, func, or_, select
from sqlalchemy.orm import aliased, contains_eager, joinedload

from portal.auth.models import Department, Role, Staff, User, user_roles
from portal.core import masking, reveal
from portal.core.timeutil import local_day_bounds
from portal.extensions import db

from ..models import CLOSED_STATES, TIME_SLOTS, CareTask, Patient, TaskLabels
from ..scoping import sees_all

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
    tasks: list[TaskRow] = field(default_factory=list)

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


def done_on(day: date, bounds: tuple | None = None):
    """Closed (done, declined, unreached) that day, or due that day and closed (early) before it; `bounds`: the
    day's start and end (as bound parameters in the task list's kept statement), else worked out from `day`.

    Written as an OR of two conjunctions, each matching an index (status + due date; completion time), so
    the planner combines two index scans instead of reading every closed task of five years.
    """
    start, end = bounds or local_day_bounds(day)
    closed = CareTask.status.in_(CLOSED_STATES)
    return or_(and_(closed, CareTask.due_date == day),
               and_(closed, CareTask.completed_at >= start, CareTask.completed_at < end))


def on_list(day: date, bounds: tuple | None = None):
    return or_(and_(CareTask.status == "open", CareTask.due_date <= day), *done_on(day, bounds).clauses)


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


class PatientRef:
    """The patient as a task card shows it: the masked name only."""

    __slots__ = ("masked_name",)

    def __init__(self, name: str):
        self.masked_name = masking.mask_name(name)


class NameRef:
    """A ward (name) or a person (display_name) as a task card shows it."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    @property
    def display_name(self) -> str:
        return self.name


# The columns a task card reads; the list is rendered from plain rows (no ORM objects for read-only cards). The
# JSON columns are read as text: most are empty, and the driver's decoder costs more than the rest of the row.
CARD_COLUMNS = ("id", "due_date", "status", "attempts", "flagged_at", "case_manager_id", "patient_id", "ward_id",
                "bed", "time_slot", "task_type", "title", "special_note", "outcome", "note", "completed_at",
                "last_attempt_at")
CARD_JSON_COLUMNS = ("special_needs", "outcome_values")


def _json(text: str | None):
    """A JSON column read as text: an empty list or object (most rows) without the decoder."""
    if text is None:
        return None
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


class TaskRow(TaskLabels):
    """One task of a day's list, read-only, with the same names as CareTask for the card template (the card
    reads no outcome_fields: the detail form is fetched with the task itself)."""

    __slots__ = (*CARD_COLUMNS, *CARD_JSON_COLUMNS, "patient", "ward", "completed_by", "case_manager")

    def __init__(self, row):
        for name in CARD_COLUMNS:
            setattr(self, name, row[name])
        self.special_needs = _json(row["special_needs"])
        self.outcome_values = _json(row["outcome_values"])
        self.patient = PatientRef(row["patient_name"])
        self.ward = NameRef(row["ward_name"]) if row["ward_id"] is not None else None
        self.completed_by = NameRef(row["completed_by_name"]) if row["completed_by_name"] is not None else None
        self.case_manager = NameRef(row["case_manager_name"]) if row["case_manager_name"] is not None else None


def _display_name(user, staff):
    """User.display_name in SQL: the staff record's name, else the login name."""
    return case((staff.id.is_not(None), staff.name), else_=user.login_name)


def _card_select() -> Select:
    """The columns and joins of the list's rows; built once (aliases are costly to build per request)."""
    done_by, done_staff = aliased(User), aliased(Staff)
    manager, manager_staff = aliased(User), aliased(Staff)
    return (select(*(getattr(CareTask, name) for name in CARD_COLUMNS),
                   *(cast(getattr(CareTask, name), Text).label(name) for name in CARD_JSON_COLUMNS),
                   Patient.name.label("patient_name"),
                   Department.name.label("ward_name"),
                   _display_name(done_by, done_staff).label("completed_by_name"),
                   _display_name(manager, manager_staff).label("case_manager_name"))
            .join(Patient, Patient.id == CareTask.patient_id)
            .outerjoin(Department, Department.id == CareTask.ward_id)
            .outerjoin(done_by, done_by.id == CareTask.completed_by_id)
            .outerjoin(done_staff, done_staff.id == done_by.staff_id)
            .outerjoin(manager, manager.id == CareTask.case_manager_id)
            .outerjoin(manager_staff, manager_staff.id == manager.staff_id))


_CARD_SELECT = _card_select()


# The list's and the counts' statements kept by their shape (which filters, whether scoped): every value in them
# is a named parameter given again at each execution, so a request builds no statement and SQLAlchemy computes no
# cache key.
_KEPT: dict[tuple, Select] = {}


def _kept(shape: tuple | None, build) -> Select:
    """The statement of this shape, built once; None: built each time (a search's terms depend on its text)."""
    stmt = _KEPT.get(shape) if shape is not None else None
    if stmt is None:
        stmt = build()
        if shape is not None:
            _KEPT[shape] = stmt
    return stmt


def day_tasks(filters: TaskFilters, user) -> list[TaskRow]:
    """One manager's list for a day, filtered, as plain rows: patient, ward and both people's names joined in."""
    values = _list_values(filters, user)

    def build() -> Select:
        param = _list_params(values)
        return _CARD_SELECT.where(*_list_conditions(filters, param)).order_by(*_list_order(param)).limit(MAX_TASKS)

    shape = None if filters.q else ("list", filters.manager_id is None, filters.status, not filters.ward_id,
                                    not filters.task_type, "viewer_id" in values)
    return [TaskRow(row) for row in db.session.execute(_kept(shape, build), values).mappings()]


def day_tasks_query(filters: TaskFilters, user) -> Select:
    """The select behind a day's list as ORM tasks, for the export (same rows and order as day_tasks)."""
    params = _list_params(_list_values(filters, user))
    return (select(CareTask).join(CareTask.patient).outerjoin(CareTask.ward)
            .options(contains_eager(CareTask.patient), contains_eager(CareTask.ward),
                     joinedload(CareTask.completed_by), joinedload(CareTask.case_manager))
            .where(*_list_conditions(filters, params)).order_by(*_list_order(params)))


def _list_values(filters: TaskFilters, user) -> dict:
    """The named parameters of the list's statement: all its values but the search's."""
    start, end = local_day_bounds(filters.day)
    values = {"day": filters.day, "day_start": start, "day_end": end, "manager_id": filters.manager_id,
              "ward_id": filters.ward_id, "task_type": filters.task_type}
    if not sees_all(user):  # the user's own tasks only (scoping.scope_to_manager, as a parameter)
        values["viewer_id"] = user.id
    return values


# The column each named parameter is compared with (its type converts the value, as a literal's would).
_PARAM_COLUMNS = {"day": CareTask.due_date, "day_start": CareTask.completed_at, "day_end": CareTask.completed_at,
                  "manager_id": CareTask.case_manager_id, "viewer_id": CareTask.case_manager_id,
                  "ward_id": CareTask.ward_id, "task_type": CareTask.task_type}


def _list_params(values: dict) -> dict:
    """`values` as named parameters, bound with their values (so that the statement also runs as built)."""
    return {name: bindparam(name, value, type_=_PARAM_COLUMNS[name].type) for name, value in values.items()}


def _whose(param: dict) -> list:
    """The manager chosen (if any) and the user's own tasks unless they see everything (scope_to_manager)."""
    return [CareTask.case_manager_id == param[name] for name in ("manager_id", "viewer_id")
            if name in param and param[name].value is not None]


def _list_conditions(filters: TaskFilters, param: dict) -> list:
    day, bounds = param["day"], (param["day_start"], param["day_end"])
    conditions = _whose(param)
    if filters.status == "open":
        conditions += [CareTask.status == "open", CareTask.due_date <= day]
    elif filters.status == "done":
        conditions.append(done_on(day, bounds))
    else:
        conditions.append(on_list(day, bounds))
    if filters.ward_id:
        conditions.append(CareTask.ward_id == param["ward_id"])
    if filters.task_type:
        conditions.append(CareTask.task_type == param["task_type"])
    if filters.q:
        conditions.append(_search(filters.q))
    return conditions


def _list_order(param: dict) -> tuple:
    # Overdue and open first, so that the cap never hides what is still to do.
    return (case((overdue_on(param["day"]), 0), else_=1), case((CareTask.status == "open", 0), else_=1),
            CareTask.due_date, CareTask.id)


def counts_of(tasks: list[TaskRow], day: date) -> DayCounts:
    """day_counts() worked out from the day's whole list when the page has it all (unfiltered, not capped)."""
    counts = DayCounts()
    wards: dict[int, str] = {}
    for task in tasks:
        if task.status == "open":
            counts.open += 1
            counts.overdue += task.due_date < day
        else:
            counts.done += 1
        if task.ward is not None:
            wards[task.ward_id] = task.ward.name
    counts.wards = sorted(wards.items(), key=lambda pair: pair[1])
    return counts


def day_counts(day: date, manager_id: int | None, user) -> DayCounts:
    """Open, closed and overdue on a manager's (None: the team's) whole list for the day, and its wards."""
    values = _list_values(TaskFilters(day=day, manager_id=manager_id), user)

    def build() -> Select:
        param = _list_params(values)
        return (select(CareTask.ward_id, Department.name, CareTask.status, func.count(),
                       func.sum(case((CareTask.due_date < param["day"], 1), else_=0)))
                .outerjoin(Department, Department.id == CareTask.ward_id)
                .where(on_list(param["day"], (param["day_start"], param["day_end"])), *_whose(param))
                .group_by(CareTask.ward_id, Department.name, CareTask.status))

    stmt = _kept(("counts", manager_id is None, "viewer_id" in values), build)
    counts = DayCounts()
    wards: dict[int, str] = {}
    for ward_id, ward_name, status, number, late in db.session.execute(stmt, values):
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


def group_tasks(items: list[TaskRow], day: date, by: str) -> list[TaskGroup]:
    """Overdue first, then by time slot (上午 … 全天) or by ward; open before done within a group."""
    def group_of(task: TaskRow) -> tuple[tuple, str, str]:
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
    rows = db.session.execute(select(User.id, _display_name(User, Staff)).outerjoin(Staff, Staff.id == User.staff_id)
                              .join(user_roles, user_roles.c.user_id == User.id)
                              .join(Role, Role.id == user_roles.c.role_id)
                              .where(Role.code == "case_manager", User.is_active_flag))
    return sorted(((user_id, name) for user_id, name in rows), key=lambda pair: (pair[1], pair[0]))


def day_numbers(day: date) -> dict[int | None, tuple[int, int, int]]:
    """Per case manager id (None: unassigned): open, done and overdue on the day's list."""
    stmt = (select(CareTask.case_manager_id,
                   func.sum(case((CareTask.status == "open", 1), else_=0)),
                   func.sum(case((CareTask.status.in_(CLOSED_STATES), 1), else_=0)),
                   func.sum(case((overdue_on(day), 1), else_=0)))
            .where(on_list(day)).group_by(CareTask.case_manager_id))
    return {uid: (int(o or 0), int(d or 0), int(late or 0)) for uid, o, d, late in db.session.execute(stmt)}


def overview(day: date, managers: list[tuple[int, str]]) -> tuple[list[ManagerDay], ManagerDay]:
    """Per case manager (from case_managers()): open, done and overdue on the day's list; and for unassigned."""
    numbers = day_numbers(day)
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
