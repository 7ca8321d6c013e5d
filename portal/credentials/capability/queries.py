"""Read side of the capability pages: a person's qualifications, privileges, expiring items and alerts; a
department's staff, coverage of its catalogue entries and expiring items; who may perform an entry and what a
person may perform. Coverage is the privilege check's own rule (`privileges.check.covering_condition`) on the
days privileges count (`counts_condition`), so a page and HIS's answer cannot disagree about a privilege."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select

from portal.auth.models import Department, Staff
from portal.catalogue.models.technologies import Technology, TechnologyDepartment
from portal.core import workercache
from portal.core.scoping import scope_query
from portal.extensions import db

from .. import VIEW_PRIVILEGES
from ..models.privileges import Privilege, PrivilegeAlert, PrivilegeOverride, counts_condition
from ..models.qualifications import HELD_STATES, Qualification
from ..privileges.check import covering_condition

EXPIRING_DAYS = 90  # "expiring items": qualifications and privileges ending within this many days
ALERT_DAYS = 90  # a person's interception alerts and overrides over this many days
CURRENT_PRIVILEGE_STATES = ("active", "expired", "suspended")
CURRENT_QUALIFICATION_STATES = (*HELD_STATES, "suspended")


def like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def subtree(department_id: int):
    """The department and every department below it (its wards)."""
    from portal.reports.engine import department_subtree

    return department_subtree(department_id)


def kept(name: str, key, build, generation=None):
    """A part of a capability page from this worker's copy while the privilege generation is unchanged: it reads
    only privileges, qualifications, staff, departments and the catalogue, whose every write moves that generation
    (a trigger, in the writing transaction). `key` holds everything else it depends on (the day, the filters); a
    kept value is shared between requests and never changed. `generation`: another generation it depends on too."""
    from ..privileges.check import page_generation

    # before the rows: a write committed later always moves it on
    generation = page_generation() if generation is None else (page_generation(), generation())
    return workercache.kept(f"capability_{name}", generation, key, build, 1024)


def department_staff_ids(department_id: int) -> list[int]:
    """The working staff of a department and its wards: read once, then every query of the page probes the
    staff_id indexes of privileges and qualifications with them (a department has tens of people)."""
    return kept("staff_ids", department_id, lambda: list(db.session.scalars(
        select(Staff.id).where(Staff.department_id.in_(subtree(department_id)), Staff.is_active.is_(True)))))


# --- a person --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StaffFacts:
    """What a person page shows of the staff record (with its department's name), as plain values: kept while
    the privilege generation is unchanged (staff and departments move it)."""

    id: int
    employee_no: str
    name: str
    title: str | None
    is_active: bool
    department_id: int
    department: SimpleNamespace


def staff_facts(staff_id: int) -> StaffFacts | None:
    def build():
        row = db.session.execute(select(Staff.id, Staff.employee_no, Staff.name, Staff.title, Staff.is_active,
                                        Staff.department_id, Department.name)
                                 .join(Department, Department.id == Staff.department_id)
                                 .where(Staff.id == staff_id)).first()
        return None if row is None else StaffFacts(*row[:6], SimpleNamespace(name=row[6]))

    return kept("staff_facts", staff_id, build)


@dataclass
class Person:
    """A person's current qualifications and privileges and those of them ending soon."""

    today: date
    qualifications: list[Qualification]
    grade_privileges: list[Privilege]
    technology_privileges: list[Privilege]
    expiring_qualifications: list[Qualification]
    expiring_privileges: list[Privilege]
    horizon: date = field(init=False)

    def __post_init__(self):
        self.horizon = self.today + timedelta(days=EXPIRING_DAYS)


def person(staff_id: int, today: date) -> Person:
    """The qualifications and privileges the person page shows, in two indexed queries (by staff_id)."""
    quals = list(db.session.scalars(
        select(Qualification).where(Qualification.staff_id == staff_id,
                                    Qualification.status.in_(CURRENT_QUALIFICATION_STATES))
        .order_by(Qualification.type_id, Qualification.valid_to.desc().nulls_first(), Qualification.id.desc())))
    privs = list(db.session.scalars(
        select(Privilege).where(Privilege.staff_id == staff_id, Privilege.status.in_(CURRENT_PRIVILEGE_STATES),
                                Privilege.valid_to >= today)
        .order_by(Privilege.grade.desc().nulls_last(), Privilege.valid_to, Privilege.id)))
    horizon = today + timedelta(days=EXPIRING_DAYS)
    return Person(
        today, quals,
        [p for p in privs if p.kind != "technology"], [p for p in privs if p.kind == "technology"],
        [q for q in quals if q.status in HELD_STATES and q.valid_to is not None and today <= q.valid_to <= horizon],
        [p for p in privs if p.status in ("active", "expired") and p.valid_from <= today <= p.valid_to <= horizon])


@dataclass
class Activity:
    """A person's recent interception alerts and emergency overrides: written by the privilege check without
    moving any generation, so read at every request."""

    alerts: list[PrivilegeAlert]
    overrides: list[PrivilegeOverride]


def activity(staff_id: int, today: date) -> Activity:
    since = today - timedelta(days=ALERT_DAYS)
    alerts = list(db.session.scalars(select(PrivilegeAlert).where(PrivilegeAlert.staff_id == staff_id,
                                                                  PrivilegeAlert.day >= since)
                                     .order_by(PrivilegeAlert.day.desc(), PrivilegeAlert.id.desc()).limit(50)))
    overrides = list(db.session.scalars(select(PrivilegeOverride).where(PrivilegeOverride.staff_id == staff_id)
                                        .order_by(PrivilegeOverride.performed_at.desc()).limit(50)))
    return Activity(alerts, overrides)


def performable_page(staff_id: int, day: date, q: str, page: int, per_page: int):
    """A page of `performable_query` (with the total), kept per worker while privileges are unchanged."""
    from portal.core.listing import paginate

    return kept("performable", (staff_id, day, q, page, per_page), lambda: paginate(
        performable_query(staff_id, day, q), page, per_page, scalars=False, total_in_page=True))


def performable_query(staff_id: int, day: date, q: str = "") -> Select:
    """The active catalogue entries this person may perform or order on `day` (可开展技术), with both rights;
    searchable by code, national code and name. Driven by the person's few counting privileges (joined to the
    catalogue), not by an existence test per entry."""
    held = _rule_columns(Privilege.staff_id == staff_id, counts_condition(day)).subquery("held")
    perform = covering_condition("perform", privilege=held.c)
    order = covering_condition("order", privilege=held.c)
    stmt = (select(Technology.id, Technology.code, Technology.national_code, Technology.name, Technology.category,
                   Technology.grade, Technology.restricted, Technology.new_tech,
                   func.max(case((perform, 1), else_=0)).label("can_perform"),
                   func.max(case((order, 1), else_=0)).label("can_order"))
            .join(held, or_(perform, order))
            .where(Technology.status == "active"))
    if q:
        pattern = like(q)
        stmt = stmt.where(or_(func.lower(Technology.code).like(pattern, escape="\\"),
                              func.lower(Technology.national_code).like(pattern, escape="\\"),
                              func.lower(Technology.name).like(pattern, escape="\\")))
    return (stmt.group_by(Technology.id, Technology.code, Technology.national_code, Technology.name,
                          Technology.category, Technology.grade, Technology.restricted, Technology.new_tech)
            .order_by(Technology.grade.desc(), Technology.code))


def outcomes(staff_id: int, start: date, end: date):
    """The surgeon's outcomes (quality.outcomes), kept while neither operations and events nor the catalogue and
    staff (names, the surgeon's department) change: both generations."""
    from portal.quality.outcomes.queries import generation, surgeon_outcomes

    return kept("outcomes", (staff_id, start, end), lambda: surgeon_outcomes(staff_id, start, end), generation)


# --- an entry --------------------------------------------------------------------------------------------------

def performers_query(tech: Technology, principal, day: date, q: str = "", perm=VIEW_PRIVILEGES) -> Select:
    """Staff still working, in the departments `perm` reaches, holding on `day` a privilege that covers `tech`
    for performing or ordering (可开展人员): one row each with both rights and the latest end of them."""
    covers_perform = and_(covering_condition("perform"), counts_condition(day))
    covers_order = and_(covering_condition("order"), counts_condition(day))
    perform = func.max(case((covers_perform, 1), else_=0))
    order = func.max(case((covers_order, 1), else_=0))
    stmt = (select(Staff.id.label("staff_id"), Staff.employee_no, Staff.name, Staff.title,
                   Department.name.label("department"),
                   perform.label("can_perform"), order.label("can_order"),
                   func.max(case((Privilege.kind == "technology", 1), else_=0)).label("own"),
                   func.max(Privilege.valid_to).label("valid_to"))
            .select_from(Privilege)
            .join(Staff, Staff.id == Privilege.staff_id)
            .join(Department, Department.id == Staff.department_id)
            .join(Technology, Technology.id == literal(tech.id))
            .where(Staff.is_active.is_(True), counts_condition(day),
                   or_(covering_condition("perform"), covering_condition("order"))))
    if q:
        text = q.strip()
        stmt = stmt.where(or_(Staff.name.contains(text, autoescape=True), Staff.employee_no == text.upper()))
    stmt = scope_query(stmt, Staff.department_id, principal, perm)
    return (stmt.group_by(Staff.id, Staff.employee_no, Staff.name, Staff.title, Department.name)
            .order_by(perform.desc(), Department.name, Staff.employee_no))


# --- a department ----------------------------------------------------------------------------------------------

@dataclass
class Coverage:
    allowed: int  # active entries allowed for the department
    covered: int  # of them, those with at least one performer of the department today
    restricted_allowed: int
    restricted_covered: int

    @property
    def ratio(self) -> float | None:
        return self.covered / self.allowed if self.allowed else None


def _rule_columns(*conditions) -> Select:
    """The privilege columns the coverage rule reads, of the rows meeting `conditions`: plain columns of a
    subquery are far cheaper to build expressions on than an aliased entity (every page builds a few)."""
    return select(Privilege.id, Privilege.kind, Privilege.grade, Privilege.categories, Privilege.technology_id,
                  Privilege.can_perform, Privilege.can_order).where(*conditions)


def _covered_by_department(staff_ids: list[int], day: date):
    """An entry has a performer among these staff today: correlated on Technology, over the staff's counting
    performing privileges read once (a materialised CTE of a few hundred rows; inlined, PostgreSQL would
    intersect two privilege indexes for every entry)."""
    held = (_rule_columns(Privilege.staff_id.in_(staff_ids), counts_condition(day), Privilege.can_perform.is_(True))
            .cte("department_held").prefix_with("MATERIALIZED"))
    return exists(select(held.c.id).where(covering_condition("perform", privilege=held.c)))


def allowed_query(department_id: int):
    return (select(Technology.id).join(TechnologyDepartment, TechnologyDepartment.technology_id == Technology.id)
            .where(TechnologyDepartment.department_id == department_id, Technology.status == "active"))


def coverage(department_id: int, day: date, staff_ids: list[int] | None = None) -> Coverage:
    """Entries allowed for the department against those at least one of its staff may perform today."""
    return kept("coverage", (department_id, day), lambda: _coverage(department_id, day, staff_ids))


def _coverage(department_id: int, day: date, staff_ids: list[int] | None) -> Coverage:
    own_only = or_(Technology.restricted.is_(True), Technology.new_tech.is_(True))
    covered = _covered_by_department(department_staff_ids(department_id) if staff_ids is None else staff_ids, day)
    row = db.session.execute(
        select(func.count(),
               func.coalesce(func.sum(case((covered, 1), else_=0)), 0),
               func.coalesce(func.sum(case((own_only, 1), else_=0)), 0),
               func.coalesce(func.sum(case((and_(own_only, covered), 1), else_=0)), 0))
        .select_from(Technology).join(TechnologyDepartment, TechnologyDepartment.technology_id == Technology.id)
        .where(TechnologyDepartment.department_id == department_id, Technology.status == "active")).one()
    return Coverage(*(int(v or 0) for v in row))


def department_technologies_query(department_id: int, day: date, covered: str = "", q: str = "") -> Select:
    """The department's allowed entries with whether a performer is there today ("1" covered, "0" not)."""
    has = _covered_by_department(department_staff_ids(department_id), day)
    stmt = (select(Technology.id, Technology.code, Technology.name, Technology.category, Technology.grade,
                   Technology.restricted, Technology.new_tech, has.label("covered"))
            .join(TechnologyDepartment, TechnologyDepartment.technology_id == Technology.id)
            .where(TechnologyDepartment.department_id == department_id, Technology.status == "active"))
    if covered == "1":
        stmt = stmt.where(has)
    elif covered == "0":
        stmt = stmt.where(~has)
    if q:
        pattern = like(q)
        stmt = stmt.where(or_(func.lower(Technology.code).like(pattern, escape="\\"),
                              func.lower(Technology.name).like(pattern, escape="\\")))
    return stmt.order_by(Technology.grade.desc(), Technology.code)


def staff_page(department_id: int, day: date, q: str, page: int, per_page: int,
               staff_ids: list[int] | None = None):
    """A page of `staff_query` (with the total), kept per worker while privileges and staff are unchanged."""
    from portal.core.listing import paginate

    return kept("staff", (department_id, day, q, page, per_page), lambda: paginate(
        staff_query(department_id, day, q, staff_ids), page, per_page, scalars=False, total_in_page=True))


def staff_query(department_id: int, day: date, q: str = "", staff_ids: list[int] | None = None) -> Select:
    """The department's working staff with their highest grade held today and their counting technology
    privileges (one grouped query; staff without privileges included)."""
    tech = Technology.__table__.alias("tech")
    ids = department_staff_ids(department_id) if staff_ids is None else staff_ids
    held = (select(Privilege.staff_id, Privilege.kind, Privilege.grade, Privilege.technology_id)
            .where(Privilege.staff_id.in_(ids), counts_condition(day), Privilege.can_perform.is_(True)).subquery())
    grade = func.max(case((held.c.kind != "technology", held.c.grade), else_=None))
    techs = func.count(held.c.technology_id)
    stmt = (select(Staff.id.label("staff_id"), Staff.employee_no, Staff.name, Staff.title,
                   Department.name.label("department"), grade.label("highest_grade"),
                   techs.label("technologies"),
                   func.count(func.distinct(case((tech.c.restricted.is_(True) | tech.c.new_tech.is_(True),
                                                  held.c.technology_id)))).label("restricted"))
            .select_from(Staff)
            .join(Department, Department.id == Staff.department_id)
            .outerjoin(held, held.c.staff_id == Staff.id)
            .outerjoin(tech, tech.c.id == held.c.technology_id)
            .where(Staff.id.in_(ids)))
    if q:
        text = q.strip()
        stmt = stmt.where(or_(Staff.name.contains(text, autoescape=True), Staff.employee_no == text.upper()))
    return (stmt.group_by(Staff.id, Staff.employee_no, Staff.name, Staff.title, Department.name)
            .order_by(grade.desc().nulls_last(), techs.desc(), Staff.employee_no))


def _first(stmt: Select, limit: int) -> tuple[int, list]:
    """The number of rows and the first `limit` of them, in one query (count(*) OVER ())."""
    from portal.core.listing import paginate

    page = paginate(stmt, 1, limit, total_in_page=True)
    return page.total, page.items


@dataclass(frozen=True)
class Expiring:
    """One line of an "expiring" list: plain values, so a worker can keep the list between requests."""

    id: int
    staff_id: int
    staff_name: str
    label: str
    valid_to: date


def expiring_privileges(principal, department_id: int, day: date, limit: int = 10) -> tuple[int, list[Expiring]]:
    """Privileges ending within 90 days in the department: the privilege list's own query with its "ending"
    filter, so the number and the list it links to are the same rows."""
    from ..privileges import queries as privilege_queries

    def build():
        total, first = _first(privilege_queries.list_query(
            principal, privilege_queries.Filters(department_id=department_id, ending_days=EXPIRING_DAYS), day), limit)
        return total, [Expiring(p.id, p.staff_id, p.staff.name, p.scope_label, p.valid_to) for p in first]

    return kept("expiring_privileges", (department_id, day, limit, principal.departments_for(VIEW_PRIVILEGES)), build)


def expiring_qualifications(principal, department_id: int, day: date, limit: int = 10
                            ) -> tuple[int, list[Expiring]]:
    """Qualifications ending within 90 days in the department: the qualification list's own query."""
    from ..qualifications import queries as qualification_queries

    def build():
        total, first = _first(qualification_queries.list_query(
            principal, qualification_queries.Filters(department_id=department_id, expiring_days=EXPIRING_DAYS), day,
            perm=VIEW_PRIVILEGES), limit)
        return total, [Expiring(q.id, q.staff_id, q.staff.name, q.display_name, q.valid_to) for q in first]

    return kept("expiring_qualifications",
                (department_id, day, limit, principal.departments_for(VIEW_PRIVILEGES)), build)


@dataclass(frozen=True)
class DepartmentChoice:
    id: int
    name: str
    depth: int  # levels below the hospital (the choice is indented by it)


def departments(principal, perm=VIEW_PRIVILEGES) -> list[DepartmentChoice]:
    """The active clinical departments the user may open (by tree order), as plain values kept per scope while
    the privilege generation (which departments move) is unchanged."""
    def build():
        stmt = select(Department.id, Department.name, Department.path).where(Department.is_active.is_(True),
                                                            Department.kind.in_(("department", "ward")))
        stmt = scope_query(stmt, Department.id, principal, perm)
        return [DepartmentChoice(id_, name, path.strip("/").count("/")) for id_, name, path in db.session.execute(
            stmt.order_by(Department.path, Department.sort_order, Department.name))]

    return kept("departments", (perm.code, principal.departments_for(perm)), build)
