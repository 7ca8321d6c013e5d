"""Privilege lists: medical affairs' searchable list (scoped by department), a person's records and chains, the
renewal list, today's alerts, the overrides, and the keyset page HIS pulls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, func, or_, select

from portal.auth.models import Department, Staff
from portal.catalogue.models.technologies import Technology
from portal.core.scoping import scope_query
from portal.core.timeutil import utcnow
from portal.extensions import db

from .. import VIEW_PRIVILEGES
from ..models.privileges import (
    APPLICATION_STATES,
    Privilege,
    PrivilegeAlert,
    PrivilegeOverride,
    PrivilegeRule,
    privilege_state_condition,
)
from ..models.qualifications import HELD_STATES, Qualification, QualificationType

MAX_ENDING_DAYS = 3650


@dataclass
class Filters:
    q: str = ""
    department_id: int | None = None
    grade: int | None = None
    technology: str = ""
    state: str = ""
    ending_days: int | None = None

    def args(self) -> dict:
        return {"q": self.q, "department_id": self.department_id or "", "grade": self.grade or "",
                "technology": self.technology, "state": self.state, "ending": self.ending_days or ""}


def _below(department_id: int):
    return select(Department.id).where(or_(Department.id == department_id,
                                           Department.path.contains(f"/{department_id}/")))


def list_query(principal, filters: Filters, today: date, perm=VIEW_PRIVILEGES) -> Select:
    """Privilege records of the staff in the departments `perm` reaches, filtered; nearest end first."""
    stmt = select(Privilege).join(Staff, Staff.id == Privilege.staff_id)
    stmt = scope_query(stmt, Staff.department_id, principal, perm)
    if filters.q:
        text = filters.q.strip()
        stmt = stmt.where(or_(Staff.name.contains(text, autoescape=True), Staff.employee_no == text.upper()))
    if filters.department_id:
        stmt = stmt.where(Staff.department_id.in_(_below(filters.department_id)))
    if filters.grade:
        stmt = stmt.where(or_(Privilege.grade == filters.grade,
                              Privilege.technology_id.in_(select(Technology.id)
                                                          .where(Technology.grade == filters.grade))))
    if filters.technology:
        code = filters.technology.strip().upper()
        stmt = stmt.where(Privilege.technology_id.in_(select(Technology.id).where(
            or_(func.upper(Technology.code) == code, func.upper(Technology.national_code) == code,
                Technology.name.contains(filters.technology.strip(), autoescape=True)))))
    if filters.state:
        stmt = stmt.where(privilege_state_condition(filters.state, today))
    elif filters.ending_days is None:
        stmt = stmt.where(Privilege.status.notin_(("withdrawn", "rejected", "superseded")))
    if filters.ending_days is not None:
        stmt = stmt.where(Privilege.status == "active", Privilege.valid_to >= today,
                          Privilege.valid_to <= today + timedelta(days=filters.ending_days))
    return stmt.order_by(Privilege.valid_to, Privilege.id)


def staff_in_scope(staff_id: int, principal, perm=VIEW_PRIVILEGES) -> Staff | None:
    staff = db.session.get(Staff, staff_id)
    if staff is None or not principal.can_act_on(perm, staff.department_id):
        return None
    return staff


def person_records(staff_id: int) -> list[Privilege]:
    return list(db.session.scalars(select(Privilege).where(Privilege.staff_id == staff_id)
                                   .order_by(Privilege.id.desc())))


def chain(record: Privilege) -> list[Privilege]:
    """Every record of the adjustment chain this one belongs to, oldest first (the timeline)."""
    root = record
    seen = {root.id}
    while root.supersedes_id and root.supersedes_id not in seen:
        parent = db.session.get(Privilege, root.supersedes_id)
        if parent is None:
            break
        seen.add(parent.id)
        root = parent
    found, frontier, seen = [root], [root.id], {root.id}
    while frontier:
        children = list(db.session.scalars(select(Privilege).where(Privilege.supersedes_id.in_(frontier))
                                           .order_by(Privilege.id)))
        children = [c for c in children if c.id not in seen]
        seen.update(c.id for c in children)
        found += children
        frontier = [c.id for c in children]
    return sorted(found, key=lambda r: r.id)


def open_adjustment(record: Privilege) -> Privilege | None:
    return db.session.scalar(select(Privilege).where(Privilege.supersedes_id == record.id,
                                                     Privilege.status.in_(("pending", "returned"))).limit(1))


def renewal_query(principal, today: date, days: int = 90, perm=VIEW_PRIVILEGES) -> Select:
    stmt = (select(Privilege).join(Staff, Staff.id == Privilege.staff_id)
            .where(Privilege.status == "active", Privilege.valid_to >= today,
                   Privilege.valid_to <= today + timedelta(days=days)))
    return scope_query(stmt, Staff.department_id, principal, perm).order_by(Privilege.valid_to, Privilege.id)


def alerts_query(principal, day: date, perm=VIEW_PRIVILEGES) -> Select:
    stmt = select(PrivilegeAlert).join(Staff, Staff.id == PrivilegeAlert.staff_id).where(PrivilegeAlert.day == day)
    return scope_query(stmt, Staff.department_id, principal, perm).order_by(PrivilegeAlert.id.desc())


def overrides_query(principal, state: str = "open", perm=VIEW_PRIVILEGES) -> Select:
    stmt = select(PrivilegeOverride).join(Staff, Staff.id == PrivilegeOverride.staff_id)
    if state == "open":
        stmt = stmt.where(PrivilegeOverride.status == "open")
    elif state == "overdue":
        stmt = stmt.where(PrivilegeOverride.status == "open", PrivilegeOverride.due_at < utcnow())
    elif state == "confirmed":
        stmt = stmt.where(PrivilegeOverride.status == "confirmed")
    return scope_query(stmt, Staff.department_id, principal, perm).order_by(PrivilegeOverride.due_at,
                                                                            PrivilegeOverride.id)


def pending_applications_query(principal, perm=VIEW_PRIVILEGES) -> Select:
    stmt = select(Privilege).join(Staff, Staff.id == Privilege.staff_id).where(
        Privilege.status.in_(("pending", "returned")))
    return scope_query(stmt, Staff.department_id, principal, perm).order_by(Privilege.id.desc())


def my_records(staff_id: int | None) -> list[Privilege]:
    return person_records(staff_id) if staff_id else []


def is_application(record: Privilege) -> bool:
    return record.status in APPLICATION_STATES


def active_rules() -> list[PrivilegeRule]:
    return list(db.session.scalars(select(PrivilegeRule).where(PrivilegeRule.is_active)
                                   .order_by(PrivilegeRule.grade, PrivilegeRule.category, PrivilegeRule.id)))


def all_rules() -> list[PrivilegeRule]:
    return list(db.session.scalars(select(PrivilegeRule).order_by(PrivilegeRule.grade, PrivilegeRule.category,
                                                                  PrivilegeRule.id)))


def title_record(staff_id: int, day: date) -> tuple[str, date | None] | None:
    """The person's current title (职称) qualification: (level, since)."""
    row = db.session.execute(
        select(Qualification.level, Qualification.valid_from, Qualification.issued_on)
        .join(QualificationType, QualificationType.id == Qualification.type_id)
        .where(Qualification.staff_id == staff_id, QualificationType.code == "TITLE",
               Qualification.status.in_(HELD_STATES),
               or_(Qualification.valid_from.is_(None), Qualification.valid_from <= day))
        .order_by(Qualification.id.desc()).limit(1)).first()
    if row is None:
        return None
    return row.level, row.valid_from or row.issued_on


# --- HIS's copy: one keyset over qualifications and privileges, ordered by (updated_at, kind, id) ----------

def _after(model, rank: int, cursor: tuple[datetime, int, int] | None):
    if cursor is None:
        return True
    at, kind, ident = cursor
    if rank > kind:
        return model.updated_at >= at
    if rank < kind:
        return model.updated_at > at
    return or_(model.updated_at > at, and_(model.updated_at == at, model.id > ident))


def pull_page(since: datetime | None, cursor: tuple[datetime, int, int] | None, limit: int):
    """Up to `limit` changed records after `cursor` (or since `since`): [(rank, row)], rank 0 = qualification,
    1 = privilege (granted records of every state, so a copy can drop what stopped counting)."""
    quals = (select(Qualification, QualificationType.code, QualificationType.name, Staff.employee_no)
             .join(QualificationType, QualificationType.id == Qualification.type_id)
             .join(Staff, Staff.id == Qualification.staff_id)
             .where(Qualification.status.in_(("active", "expired", "suspended", "revoked", "superseded")),
                    _after(Qualification, 0, cursor))
             .order_by(Qualification.updated_at, Qualification.id).limit(limit))
    privs = (select(Privilege, Staff.employee_no)
             .join(Staff, Staff.id == Privilege.staff_id)
             .where(Privilege.status.in_(("active", "expired", "suspended", "revoked", "superseded")),
                    _after(Privilege, 1, cursor))
             .order_by(Privilege.updated_at, Privilege.id).limit(limit))
    if since is not None:
        quals = quals.where(Qualification.updated_at >= since)
        privs = privs.where(Privilege.updated_at >= since)
    rows = [(0, r) for r in db.session.execute(quals)] + [(1, r) for r in db.session.execute(privs)]
    rows.sort(key=lambda item: (item[1][0].updated_at, item[0], item[1][0].id))
    return rows[:limit]
