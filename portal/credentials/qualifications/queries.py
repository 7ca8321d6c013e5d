"""The qualification lists: medical affairs' searchable list (scoped by department), a person's records, the
clinician's own; every state filter uses the same date rule as the records themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, case, false, func, or_, select

from portal.auth.models import Department, Staff
from portal.core.scoping import scope_query
from portal.extensions import db

from .. import VIEW_QUALIFICATIONS
from ..models.qualifications import APPLICATION_STATES, HELD_STATES, Qualification, state_condition

MAX_EXPIRING_DAYS = 3650


@dataclass
class Filters:
    q: str = ""
    type_id: int | None = None
    department_id: int | None = None
    state: str = ""
    expiring_days: int | None = None  # valid records ending within this many days (from today)

    def args(self) -> dict:
        return {"q": self.q, "type_id": self.type_id or "", "department_id": self.department_id or "",
                "state": self.state, "expiring": self.expiring_days or ""}


def list_query(principal, filters: Filters, today: date, perm=VIEW_QUALIFICATIONS) -> Select:
    """Qualification records of the staff in the departments `perm` reaches, filtered; nearest end first."""
    stmt = select(Qualification).join(Staff, Staff.id == Qualification.staff_id)
    stmt = scope_query(stmt, Staff.department_id, principal, perm)
    if filters.q:
        text = filters.q.strip()
        stmt = stmt.where(or_(Staff.name.contains(text, autoescape=True), Staff.employee_no == text.upper(),
                              Qualification.number == text))
    if filters.type_id:
        stmt = stmt.where(Qualification.type_id == filters.type_id)
    if filters.department_id:
        below = select(Department.id).where(or_(Department.id == filters.department_id,
                                                Department.path.contains(f"/{filters.department_id}/")))
        stmt = stmt.where(Staff.department_id.in_(below))
    if filters.state:
        stmt = stmt.where(state_condition(filters.state, today))
    elif filters.expiring_days is None:
        stmt = stmt.where(Qualification.status.notin_(("withdrawn", "rejected")))
    if filters.expiring_days is not None:
        stmt = stmt.where(Qualification.status.in_(HELD_STATES), Qualification.valid_to >= today,
                          Qualification.valid_to <= today + timedelta(days=filters.expiring_days))
    return stmt.order_by(Qualification.valid_to.asc().nulls_last(), Qualification.id)


def staff_in_scope(staff_id: int, principal, perm=VIEW_QUALIFICATIONS) -> Staff | None:
    staff = db.session.get(Staff, staff_id)
    if staff is None or not principal.can_act_on(perm, staff.department_id):
        return None
    return staff


def person_records(staff_id: int) -> list[Qualification]:
    """Every record of one person, current ones first by type, then their history."""
    return list(db.session.scalars(select(Qualification).where(Qualification.staff_id == staff_id)
                                   .order_by(Qualification.type_id, Qualification.id.desc())))


def my_records(staff_id: int | None) -> list[Qualification]:
    if not staff_id:
        return []
    return person_records(staff_id)


def my_open_applications(staff_id: int | None) -> Select:
    stmt = select(Qualification).where(Qualification.staff_id == (staff_id or 0),
                                       Qualification.status.in_(("pending", "returned")))
    return stmt.order_by(Qualification.id.desc()) if staff_id else stmt.where(false())


def expiring_counts(principal, today: date, days: int) -> tuple[int, int]:
    """(valid records ending within `days`, records expired and not renewed) of the staff still working, in the
    principal's scope."""
    base = scope_query(select(Qualification.valid_to).join(Staff, Staff.id == Qualification.staff_id)
                       .where(Qualification.status.in_(HELD_STATES), Qualification.valid_to.is_not(None),
                              Staff.is_active),
                       Staff.department_id, principal, VIEW_QUALIFICATIONS).subquery()
    soon, expired = db.session.execute(select(
        func.sum(case(((base.c.valid_to >= today) & (base.c.valid_to <= today + timedelta(days=days)), 1), else_=0)),
        func.sum(case((base.c.valid_to < today, 1), else_=0)))).one()
    return int(soon or 0), int(expired or 0)


def is_application(record: Qualification) -> bool:
    return record.status in APPLICATION_STATES
