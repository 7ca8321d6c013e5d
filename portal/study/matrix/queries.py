"""The departments x months matrix: each cell's state from one grouped query over the period's plans.

Departments are plain rows (id, name); completion per row and per column is counted once in `build`, so the
page (about a thousand cells) renders without calling back into Python per cell. A worker keeps a built matrix
(and what the pages derive from it, such as the table's markup) while the study generation is unchanged
(`kept_build`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, case, false, func, select

from portal.auth.models import Department
from portal.core.months import current_month, next_month
from portal.core.scoping import scope_query
from portal.core.workercache import generation_row, worker_cache
from portal.extensions import db

from .. import VIEW
from ..models import CELL_BADGE, CELL_STATES, StudyPlan, StudyRecord, StudySession


@dataclass(slots=True)
class Cell:
    department_id: int
    month: date
    state: str = "none"
    sessions: int = 0
    records: int = 0
    approved: int = 0

    @property
    def label(self) -> str:
        return CELL_STATES[self.state]

    @property
    def badge(self) -> str:
        return CELL_BADGE[self.state]


@dataclass
class MatrixRow:
    department: Any  # a row with .id and .name
    cells: list[Cell] = field(default_factory=list)

    def complete(self, upto: date) -> int:
        return sum(1 for c in self.cells if c.state == "complete" and c.month <= upto)


@dataclass
class Matrix:
    months: list[date]
    rows: list[MatrixRow]
    upto: date  # months after this one are not yet due (not counted in the rates)
    counts: dict[str, int] = field(init=False)  # due cells per state
    complete_cells: int = field(init=False)
    columns_complete: list[int] = field(init=False)  # per month: departments complete
    derived: dict = field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        counts = dict.fromkeys(CELL_STATES, 0)
        columns = [0] * len(self.months)
        for row in self.rows:
            for index, cell in enumerate(row.cells):
                if cell.month <= self.upto:
                    counts[cell.state] += 1
                if cell.state == "complete":
                    columns[index] += 1
        self.counts, self.columns_complete = counts, columns
        self.complete_cells = sum(r.complete(self.upto) for r in self.rows)

    def derive(self, name, build):
        """`build()` once per matrix: a kept matrix is shared, so what one request derives from it (the table's
        markup) serves the next ones; `build` must depend on the matrix and `name` only."""
        found = self.derived.get(name)
        if found is None:
            found = self.derived[name] = build()
        return found

    def due_months(self) -> list[date]:
        return [m for m in self.months if m <= self.upto]

    def column_complete(self, index: int) -> int:
        return self.columns_complete[index]

    @property
    def due_cells(self) -> int:
        return len(self.rows) * len(self.due_months())

    @property
    def rate(self) -> float | None:
        return self.complete_cells / self.due_cells if self.due_cells else None


def cell_state(plan_status: str | None, sessions: int, records: int, approved: int, returned: int) -> str:
    """The state of one department-month (see CELL_STATES)."""
    if plan_status is None or plan_status == "draft":
        return "none"
    if plan_status == "returned" or returned:
        return "returned"
    if plan_status == "submitted":
        return "submitted"
    if records == 0:
        return "approved"
    return "complete" if approved >= sessions else "partial"


def study_departments(principal, division_id: int | None = None, department_id: int | None = None):
    """The active departments (id, name) the principal may view study records of, optionally within a division."""
    stmt = select(Department.id, Department.name).where(Department.kind == "department", Department.is_active,
                                                        Department.clinical)
    if division_id:
        division = db.session.get(Department, division_id)
        stmt = stmt.where(Department.path.startswith(f"{division.path}{division.id}/") if division else false())
    if department_id:
        stmt = stmt.where(Department.id == department_id)
    return scope_query(stmt, Department.id, principal, VIEW).order_by(Department.path, Department.sort_order)


def divisions() -> list:
    """The hospital and its divisions (id, name), for the filter."""
    return list(db.session.execute(select(Department.id, Department.name).where(
        Department.kind.in_(("hospital", "division")), Department.is_active).order_by(Department.path)))


def months_of(first: date, last: date) -> list[date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def department_ids(departments: Select) -> Select:
    """The ids of study_departments(...) as a subquery for cells(): one cached statement whatever the number
    of departments, instead of two lists of ~80 bound values compiled into every request's SQL."""
    return departments.with_only_columns(Department.id).order_by(None)


def cells(department_ids: list[int] | Select, first: date, last: date) -> dict[tuple[int, date], Cell]:
    """Every plan of the departments (ids, or a select of them) within the months, as cells (one query: the plans
    on the month index, their sessions counted per plan, their records grouped by department and month, the keys
    a record copies from its plan)."""
    if isinstance(department_ids, list) and not department_ids:
        return {}
    sessions = (select(func.count()).where(StudySession.plan_id == StudyPlan.id).correlate(StudyPlan)
                .scalar_subquery())
    records = (select(StudyRecord.department_id, StudyRecord.month, func.count().label("records"),
                      func.sum(case((StudyRecord.status == "approved", 1), else_=0)).label("approved"),
                      func.sum(case((StudyRecord.status == "returned", 1), else_=0)).label("returned"))
               .where(StudyRecord.department_id.in_(department_ids), StudyRecord.month >= first,
                      StudyRecord.month <= last)
               .group_by(StudyRecord.department_id, StudyRecord.month).subquery("records"))
    stmt = (select(StudyPlan.department_id, StudyPlan.month, StudyPlan.status, sessions,
                   func.coalesce(records.c.records, 0), func.coalesce(records.c.approved, 0),
                   func.coalesce(records.c.returned, 0))
            .outerjoin(records, and_(records.c.department_id == StudyPlan.department_id,
                                     records.c.month == StudyPlan.month))
            .where(StudyPlan.department_id.in_(department_ids), StudyPlan.month >= first, StudyPlan.month <= last))
    result = {}
    for dept, month, status, sessions, records, approved, returned in db.session.execute(stmt):
        result[(dept, month)] = Cell(dept, month, cell_state(status, sessions, records, int(approved), int(returned)),
                                     sessions, records, int(approved))
    return result


def build(principal, first: date, last: date, division_id: int | None = None,
          department_id: int | None = None, today: date | None = None) -> Matrix:
    scoped = study_departments(principal, division_id, department_id)
    departments = list(db.session.execute(scoped))
    months = months_of(first, last)
    found = cells(department_ids(scoped), first, last) if departments else {}
    rows = [MatrixRow(d, [found.get((d.id, m)) or Cell(d.id, m) for m in months]) for d in departments]
    return Matrix(months, rows, current_month(today))


KEPT = 64  # matrices kept per worker: a year of every department is some hundreds of KB with its markup


def generation() -> int:
    """The study generation (moved by every write to plans, sessions, records and departments, in the writing
    transaction): a kept matrix is valid while it is unchanged. Read once a GET request, else at each call."""
    return generation_row("study", "study_generation")


def kept_build(principal, first: date, last: date, division_id: int | None = None,
               department_id: int | None = None, today: date | None = None) -> Matrix:
    """`build(...)` from this worker's copy while the study generation is unchanged. The key holds everything
    else the matrix depends on: the filters, the departments the principal may view and the current month (the
    months due). The kept matrix is shared between requests and never changed."""
    current = generation()  # before the rows: a write committed later always moves it on
    key = (first, last, division_id or None, department_id, principal.departments_for(VIEW), current_month(today))
    cache = worker_cache("study_matrix", KEPT)
    found = cache.get(current, key)
    if found is None:
        found = build(principal, first, last, division_id, department_id, today)
        cache.put(current, key, found)
    return found
