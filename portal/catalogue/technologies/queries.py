"""Read side of the catalogue: the list (now and as of a date), the departments it names, and what a department
may perform."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import selectinload

from portal.auth.models import Department
from portal.core.listing import Page
from portal.core.timeutil import local_day_bounds
from portal.extensions import db

from ..models import CATEGORIES, FLAGS, GRADES, STATUSES, Technology, TechnologyDepartment, TechnologyRevision
from .services import end_of

SORTS = {"code": Technology.code, "name": Technology.name, "grade": Technology.grade,
         "category": Technology.category, "status": Technology.status, "updated": Technology.updated_at,
         "national_code": Technology.national_code}
DEFAULT_SORT = "code"
DEPARTMENT_KINDS = ("department", "ward")


@dataclass
class Filters:
    q: str = ""
    category: str = ""
    grade: int | None = None
    status: str = ""
    department_id: int | None = None
    flags: dict[str, str] = field(default_factory=dict)  # flag -> "1" (set) or "0" (not set)
    as_of: date | None = None
    changed_from: date | None = None  # entries changed (a new revision) on or after this day

    def args(self) -> dict[str, Any]:
        return {"q": self.q, "category": self.category, "grade": self.grade or "", "status": self.status,
                "department_id": self.department_id or "", **{f: self.flags.get(f, "") for f in FLAGS},
                "as_of": self.as_of.isoformat() if self.as_of else "",
                "changed_from": self.changed_from.isoformat() if self.changed_from else ""}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def list_query(filters: Filters, sort_key: str = DEFAULT_SORT, descending: bool = False) -> Select:
    """Current entries matching the filters; the search is case-insensitive over code, national code and name."""
    stmt = select(Technology).options(selectinload(Technology.departments))
    if filters.q:
        pattern = _like(filters.q)
        stmt = stmt.where(or_(func.lower(Technology.code).like(pattern, escape="\\"),
                              func.lower(Technology.national_code).like(pattern, escape="\\"),
                              func.lower(Technology.insurance_code).like(pattern, escape="\\"),
                              func.lower(Technology.name).like(pattern, escape="\\")))
    if filters.category:
        stmt = stmt.where(Technology.category == filters.category)
    if filters.grade:
        stmt = stmt.where(Technology.grade == filters.grade)
    if filters.status:
        stmt = stmt.where(Technology.status == filters.status)
    for flag, wanted in filters.flags.items():
        if wanted in ("1", "0"):
            stmt = stmt.where(getattr(Technology, flag).is_(wanted == "1"))
    if filters.changed_from:
        stmt = stmt.where(Technology.updated_at >= local_day_bounds(filters.changed_from)[0])
    if filters.department_id:
        stmt = stmt.where(Technology.id.in_(select(TechnologyDepartment.technology_id)
                                            .where(TechnologyDepartment.department_id == filters.department_id)))
    column = SORTS[sort_key]
    return stmt.order_by(column.desc() if descending else column.asc(),
                         Technology.id.desc() if descending else Technology.id.asc())


# --- as of a date ----------------------------------------------------------------------------------------------

def as_of_query(day: date) -> Select:
    """Each entry's revision valid at the end of ``day``: the highest revision that started before then.

    Revision numbers grow with valid_from, so max(revision) over the rows before the instant is the one valid
    then; the (technology_id, valid_from) index serves the inner query.
    """
    latest = (select(TechnologyRevision.technology_id, func.max(TechnologyRevision.revision).label("revision"))
              .where(TechnologyRevision.valid_from < end_of(day)).group_by(TechnologyRevision.technology_id)
              .subquery())
    return (select(TechnologyRevision)
            .join(latest, and_(TechnologyRevision.technology_id == latest.c.technology_id,
                               TechnologyRevision.revision == latest.c.revision)))


@dataclass
class PastEntry:
    """An entry as it stood on a date, read from its revision: the list rows' attributes."""

    id: int
    revision: int
    valid_from: Any
    data: dict
    names: dict = field(default_factory=dict, repr=False)  # department code -> name, shared by a list's entries

    def __getattr__(self, name: str) -> Any:
        data = self.__dict__.get("data") or {}
        if name in data:
            return data[name]
        raise AttributeError(name)

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.data.get("category"), self.data.get("category", ""))

    @property
    def grade_label(self) -> str:
        return GRADES.get(self.data.get("grade"), str(self.data.get("grade", "")))

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.data.get("status"), self.data.get("status", ""))

    @property
    def department_list(self) -> list:
        return [SimpleNamespace(code=c, name=self.names.get(c, c)) for c in self.data.get("departments", [])]


def department_names() -> dict[str, str]:
    return {code: name for code, name in db.session.execute(select(Department.code, Department.name))}


def _matches(entry: PastEntry, filters: Filters, department_code: str | None) -> bool:
    data = entry.data
    if filters.q:
        text = filters.q.lower()
        if not any(text in str(data.get(k) or "").lower() for k in ("code", "national_code", "insurance_code",
                                                                      "name")):
            return False
    if filters.category and data.get("category") != filters.category:
        return False
    if filters.grade and data.get("grade") != filters.grade:
        return False
    if filters.status and data.get("status") != filters.status:
        return False
    for flag, wanted in filters.flags.items():
        if wanted in ("1", "0") and bool(data.get(flag)) != (wanted == "1"):
            return False
    if filters.changed_from and entry.valid_from < local_day_bounds(filters.changed_from)[0]:
        return False
    return not (department_code and department_code not in data.get("departments", []))


def as_of_entries(filters: Filters, sort_key: str = DEFAULT_SORT, descending: bool = False) -> list[PastEntry]:
    """The catalogue as it stood at the end of ``filters.as_of``, filtered and sorted like the current list."""
    assert filters.as_of is not None
    code = None
    if filters.department_id:
        code = db.session.scalar(select(Department.code).where(Department.id == filters.department_id)) or "\0"
    rows = db.session.scalars(as_of_query(filters.as_of))
    names = department_names()
    entries = [PastEntry(r.technology_id, r.revision, r.valid_from, r.data, names) for r in rows]
    entries = [e for e in entries if _matches(e, filters, code)]
    key = {"updated": "valid_from"}.get(sort_key, sort_key)

    def sort_value(entry: PastEntry):
        value = entry.valid_from if key == "valid_from" else entry.data.get(key)
        return (value is None, value if value is not None else "", entry.id)

    entries.sort(key=sort_value, reverse=descending)
    return entries


def page_of(items: list, page: int, per_page: int) -> Page:
    total = len(items)
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    return Page(items[(page - 1) * per_page: page * per_page], page, per_page, total)


# --- departments -----------------------------------------------------------------------------------------------

def departments(ids: frozenset[int] | None = None) -> list[Department]:
    """Clinical departments and wards (active) that entries may name; limited to ``ids`` when given."""
    stmt = select(Department).where(Department.kind.in_(DEPARTMENT_KINDS), Department.is_active)
    if ids is not None:
        stmt = stmt.where(Department.id.in_(ids or [0]))
    return list(db.session.scalars(stmt.order_by(Department.sort_order, Department.code)))


@dataclass
class DepartmentSummary:
    department: Department
    grid: dict[tuple[int, str], int]  # (grade, category) -> active entries
    by_grade: dict[int, int]
    by_category: dict[str, int]
    total: int
    flagged: dict[str, int]

    @property
    def categories(self) -> list[str]:
        return [c for c in CATEGORIES if self.by_category.get(c)]


def department_summary(department: Department) -> DepartmentSummary:
    """What a department may perform: active entries allowed for it, counted by grade and category."""
    allowed = (select(Technology).join(TechnologyDepartment, TechnologyDepartment.technology_id == Technology.id)
               .where(TechnologyDepartment.department_id == department.id, Technology.status == "active")
               .subquery())
    grid: dict[tuple[int, str], int] = {}
    for grade, category, count in db.session.execute(
            select(allowed.c.grade, allowed.c.category, func.count()).group_by(allowed.c.grade, allowed.c.category)):
        grid[(grade, category)] = count
    flags = db.session.execute(select(*(func.coalesce(func.sum(case((getattr(allowed.c, f).is_(True), 1), else_=0)), 0)
                                        .label(f) for f in FLAGS))).one()
    by_grade = {g: sum(n for (gr, _), n in grid.items() if gr == g) for g in GRADES}
    by_category = {c: sum(n for (_, ca), n in grid.items() if ca == c) for c in CATEGORIES}
    return DepartmentSummary(department, grid, by_grade, by_category, sum(grid.values()),
                             {f: int(getattr(flags, f)) for f in FLAGS})


def changed_since(instant) -> int:
    """Revisions written since an instant other than entries' first ones (the home panel's changes)."""
    return db.session.scalar(select(func.count()).select_from(TechnologyRevision)
                             .where(TechnologyRevision.valid_from >= instant, TechnologyRevision.revision > 1)) or 0


def count_status(status: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Technology).where(Technology.status == status)) or 0


def count_rows_of(stmt: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
