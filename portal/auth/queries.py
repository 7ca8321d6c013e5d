"""Read-side queries for the account and organisation lists (filters, sorting, scoping)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import selectinload, undefer

from portal.core.listing import Page, Sort, apply_sort, paginate
from portal.core.scoping import scope_query
from portal.extensions import db

from .models import Department, LoginThrottle, Role, Staff, User, user_roles
from .org import kept_while_org_unchanged

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


def users_query(filters: UserFilters, sort: Sort, columns=None) -> Select:
    """Users (or, given `columns`, those columns of them) filtered and sorted; staff and department joined."""
    from portal.core.timeutil import utcnow

    if columns is None:
        stmt = select(User).options(selectinload(User.roles), undefer(User.locked_until))
    else:
        stmt = select(*columns)
    stmt = (stmt.select_from(User).outerjoin(Staff, User.staff_id == Staff.id)
            .outerjoin(Department, Staff.department_id == Department.id))
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


USER_ROW = (User.id, User.login_name, Staff.name.label("name"), Department.name.label("department"),
            User.is_active_flag.label("is_active"), User.must_change_password, User.last_login_at)


def list_users(filters: UserFilters, sort: Sort, page: int, per_page: int) -> Page[dict]:
    """A page of the users list as plain rows with their role names and lock, in the page's one statement.

    Each row carries its role ids (names and order from role_choices, kept per worker) and its latest lock from
    any address, as User.locked_until computes it (login_throttles keeps lower case; its unique index)."""
    role_ids = (select(func.aggregate_strings(cast(user_roles.c.role_id, String), ","))
                .where(user_roles.c.user_id == User.id).scalar_subquery().label("role_ids"))
    locked = (select(func.max(LoginThrottle.locked_until))
              .where(LoginThrottle.login_name == func.lower(User.login_name)).scalar_subquery().label("locked_until"))
    found = paginate(users_query(filters, sort, (*USER_ROW, role_ids, locked)), page, per_page, scalars=False,
                     count_stmt=users_query(filters, sort, (User.id,)))
    names = role_choices()
    found.items = [{**row, "roles": _role_names(row["role_ids"], names)} for row in found.items]
    return found


def _role_names(ids: str | None, names) -> list[str]:
    held = {int(i) for i in ids.split(",")} if ids else set()
    return [name for role_id, name in names if role_id in held]


@dataclass
class StaffFilters:
    q: str = ""
    department_id: int | None = None
    status: str = ""  # active / inactive


def staff_query(filters: StaffFilters, sort: Sort, principal, perm, columns=None) -> Select:
    """Staff (or, given `columns`, those columns) within the departments the principal reaches with `perm`,
    filtered and sorted."""
    if columns is None:
        # Each row shows its login: load them in one query, not one per row.
        stmt = select(Staff).options(selectinload(Staff.user)).join(Department, Staff.department_id == Department.id)
    else:
        stmt = (select(*columns).select_from(Staff).join(Department, Staff.department_id == Department.id)
                .outerjoin(User, User.staff_id == Staff.id))  # one login at most (users.staff_id is unique)
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


STAFF_ROW = (Staff.id, Staff.employee_no, Staff.name, Department.name.label("department"), Staff.title,
             Staff.position, Staff.is_active, User.login_name)


def list_staff(filters: StaffFilters, sort: Sort, page: int, per_page: int, principal, perm) -> Page:
    """A page of the staff list as plain rows (the login joined); the count reads staff alone."""
    return paginate(staff_query(filters, sort, principal, perm, STAFF_ROW), page, per_page, scalars=False,
                    count_stmt=staff_query(filters, sort, principal, perm, (Staff.id,)))


def all_roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.is_system.desc(), Role.id)))


def role_choices() -> list:
    """Roles as (id, name) rows in the same order as all_roles, for filters and the users list's role names (no
    grants loaded; kept per worker while the auth generation, which every write to roles moves, is unchanged)."""
    def read():
        return tuple(db.session.execute(select(Role.id, Role.name).order_by(Role.is_system.desc(), Role.id)).all())

    return list(kept_while_org_unchanged("role_choices", "all", read))


def department_choices(principal=None, perm=None, blank: str | None = "全部科室",
                       active_only: bool = False) -> list[tuple]:
    """(id, indented name) pairs in tree order; with a principal, only the departments `perm` reaches."""
    from .org import department_rows

    rows = department_rows(include_inactive=not active_only)
    if principal is not None:
        if perm is None:
            raise TypeError("department choices for a user need the permission they are for")
        rows = [d for d in rows if principal.can_act_on(perm, d.id)]
    choices = [("", blank)] if blank is not None else []
    choices += [(d.id, "\u3000" * d.path.strip("/").count("/") + d.name) for d in rows]
    return choices


def staff_choices_without_login(current_staff_id: int | None = None) -> list[tuple]:
    taken = select(User.staff_id).where(User.staff_id.is_not(None))
    stmt = select(Staff).where(Staff.is_active, or_(Staff.id.not_in(taken), Staff.id == (current_staff_id or -1)))
    rows = db.session.scalars(stmt.order_by(Staff.employee_no))
    return [("", "（不关联）")] + [(s.id, f"{s.employee_no} {s.name}（{s.department.name}）") for s in rows]


def active_user_ids_with_roles(role_codes: tuple[str, ...], department_id: int | None = None) -> list[int]:
    """Active users holding any of the roles, optionally only those whose staff record is in the department
    (kept per worker while users, roles and staff are unchanged: org.kept_while_org_unchanged)."""
    from .org import kept_while_org_unchanged

    def read():
        stmt = (select(User.id).join(user_roles, user_roles.c.user_id == User.id)
                .join(Role, Role.id == user_roles.c.role_id)
                .where(Role.code.in_(role_codes), User.is_active_flag))
        if department_id is not None:
            stmt = stmt.join(Staff, User.staff_id == Staff.id).where(Staff.department_id == department_id)
        return tuple(sorted(set(db.session.scalars(stmt))))

    return list(kept_while_org_unchanged("active_user_ids_with_roles", (tuple(role_codes), department_id), read))
