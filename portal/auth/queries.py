"""Read-side queries for the account and organisation lists (filters, sorting, scoping)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload, undefer

from portal.core.listing import Page, Sort, apply_sort, paginate
from portal.core.scoping import scope_query
from portal.extensions import db

from .models import Department, Role, Staff, User, user_roles

USER_SORTS = {"login_name": User.login_name, "name": Staff.name, "department": Department.name,
              "last_login": User.last_login_at, "created": User.created_at}
STAFF_SORTS = {"employee_no": Staff.employee_no, "name": Staff.name, "department": Department.name,
               "title": Staff.title}


@dataclass
class UserFilters:
    q: str = ""
    department_id: int | None = None
    role_id: int | None = None
    status: str = ""  # active / inactive / locked


def _in_department_tree(column, department_id: int):
    dept = db.session.get(Department, department_id)
    if dept is None:
        return column == -1
    prefix = f"{dept.path}{dept.id}/"
    subtree = select(Department.id).where(or_(Department.id == dept.id, Department.path.startswith(prefix)))
    return column.in_(subtree)


def users_query(filters: UserFilters, sort: Sort) -> Select:
    from portal.core.timeutil import utcnow

    stmt = (select(User).outerjoin(Staff, User.staff_id == Staff.id)
            .outerjoin(Department, Staff.department_id == Department.id)
            .options(selectinload(User.roles), undefer(User.locked_until)))
    if filters.q:
        q = filters.q
        stmt = stmt.where(or_(User.login_name.icontains(q, autoescape=True), Staff.name.icontains(q, autoescape=True),
                              Staff.employee_no.icontains(q, autoescape=True)))
    if filters.department_id:
        stmt = stmt.where(_in_department_tree(Staff.department_id, filters.department_id))
    if filters.role_id:
        stmt = stmt.where(User.id.in_(select(user_roles.c.user_id).where(user_roles.c.role_id == filters.role_id)))
    if filters.status == "active":
        stmt = stmt.where(User.is_active_flag.is_(True))
    elif filters.status == "inactive":
        stmt = stmt.where(User.is_active_flag.is_(False))
    elif filters.status == "locked":
        stmt = stmt.where(User.locked_until > utcnow())
    return apply_sort(stmt, sort, USER_SORTS, User.id)


def list_users(filters: UserFilters, sort: Sort, page: int, per_page: int) -> Page[User]:
    return paginate(users_query(filters, sort), page, per_page)


@dataclass
class StaffFilters:
    q: str = ""
    department_id: int | None = None
    status: str = ""  # active / inactive


def staff_query(filters: StaffFilters, sort: Sort, principal, perm) -> Select:
    """Staff within the departments the principal reaches with `perm`, filtered and sorted."""
    # Each row shows its login: load them in one query, not one per row.
    stmt = select(Staff).join(Department, Staff.department_id == Department.id).options(selectinload(Staff.user))
    stmt = scope_query(stmt, Staff.department_id, principal, perm)
    if filters.q:
        q = filters.q
        stmt = stmt.where(or_(Staff.name.icontains(q, autoescape=True),
                              Staff.employee_no.icontains(q, autoescape=True)))
    if filters.department_id:
        stmt = stmt.where(_in_department_tree(Staff.department_id, filters.department_id))
    if filters.status == "active":
        stmt = stmt.where(Staff.is_active.is_(True))
    elif filters.status == "inactive":
        stmt = stmt.where(Staff.is_active.is_(False))
    return apply_sort(stmt, sort, STAFF_SORTS, Staff.id)


def list_staff(filters: StaffFilters, sort: Sort, page: int, per_page: int, principal, perm) -> Page[Staff]:
    return paginate(staff_query(filters, sort, principal, perm), page, per_page)


def all_roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.is_system.desc(), Role.id)))


def department_choices(principal=None, perm=None, blank: str | None = "全部科室",
                       active_only: bool = False) -> list[tuple]:
    """(id, indented name) pairs in tree order; with a principal, only the departments `perm` reaches."""
    from .org import department_tree

    rows = department_tree(include_inactive=not active_only)
    if principal is not None:
        if perm is None:
            raise TypeError("department choices for a user need the permission they are for")
        rows = [d for d in rows if principal.can_act_on(perm, d.id)]
    choices = [("", blank)] if blank is not None else []
    choices += [(d.id, "\u3000" * d.depth + d.name) for d in rows]
    return choices


def staff_choices_without_login(current_staff_id: int | None = None) -> list[tuple]:
    taken = select(User.staff_id).where(User.staff_id.is_not(None))
    stmt = select(Staff).where(Staff.is_active, or_(Staff.id.not_in(taken), Staff.id == (current_staff_id or -1)))
    rows = db.session.scalars(stmt.order_by(Staff.employee_no))
    return [("", "（不关联）")] + [(s.id, f"{s.employee_no} {s.name}（{s.department.name}）") for s in rows]


def active_user_ids_with_roles(role_codes: tuple[str, ...], department_id: int | None = None) -> list[int]:
    """Active users holding any of the roles, optionally only those whose staff record is in the department."""
    stmt = (select(User.id).join(user_roles, user_roles.c.user_id == User.id)
            .join(Role, Role.id == user_roles.c.role_id)
            .where(Role.code.in_(role_codes), User.is_active_flag))
    if department_id is not None:
        stmt = stmt.join(Staff, User.staff_id == Staff.id).where(Staff.department_id == department_id)
    return sorted(set(db.session.scalars(stmt)))
