"""The organisation: the department tree and the staff register."""

from __future__ import annotations

from flask import g, has_request_context, request
from sqlalchemy import func, select

from portal.core import audit
from portal.core.service import ServiceError, clean
from portal.core.workercache import worker_cache
from portal.extensions import db

from .models import DEPARTMENT_KINDS, Department, Staff
from .services import bump_access_for_all

DEPARTMENT_FIELDS = ("name", "code", "kind", "parent_id", "sort_order", "is_active", "clinical")
STAFF_FIELDS = ("employee_no", "name", "title", "position", "department_id", "is_active")
# Which kind of node may hang under which: hospital > division > department > ward.
ALLOWED_PARENT = {"hospital": None, "division": "hospital", "department": "division", "ward": "department"}


def _check_department(dept: Department | None, name: str, code: str, kind: str, parent: Department | None) -> None:
    if kind not in DEPARTMENT_KINDS:
        raise ServiceError("科室类型无效。", field="kind")
    want = ALLOWED_PARENT[kind]
    if want is None and parent is not None:
        raise ServiceError("医院是树的根，不能有上级。", field="parent_id")
    if want is not None and (parent is None or parent.kind != want):
        raise ServiceError(f"{DEPARTMENT_KINDS[kind]}的上级必须是{DEPARTMENT_KINDS[want]}。", field="parent_id")
    if dept is not None and parent is not None and (parent.id == dept.id or f"/{dept.id}/" in parent.path):
        raise ServiceError("不能把科室移到它自己的下级之下。", field="parent_id")
    clash = select(Department).where(Department.id != (dept.id if dept else -1))
    if db.session.scalar(clash.where(func.lower(Department.code) == code.lower())):
        raise ServiceError("科室代码已存在。", field="code")
    if db.session.scalar(clash.where(Department.name == name, Department.parent_id == (parent.id if parent else None))):
        raise ServiceError("同一上级下已有同名科室。", field="name")


def _parent(parent_id: int | None) -> Department | None:
    if parent_id is None:
        return None
    parent = db.session.get(Department, parent_id)
    if parent is None:
        raise ServiceError("上级科室不存在。", field="parent_id")
    return parent


def _path_under(parent: Department | None) -> str:
    return "/" if parent is None else f"{parent.path}{parent.id}/"


def create_department(*, name: str, code: str, kind: str, parent_id: int | None, sort_order: int = 0,
                      clinical: bool = True) -> Department:
    name, code = clean(name), clean(code)
    parent = _parent(parent_id)
    _check_department(None, name, code, kind, parent)
    dept = Department(name=name, code=code, kind=kind, parent_id=parent_id, path=_path_under(parent),
                      sort_order=sort_order, is_active=True, clinical=clinical)
    db.session.add(dept)
    db.session.flush()
    audit.record("create", "department", dept.id, label=name, after=audit.snapshot(dept, DEPARTMENT_FIELDS))
    return dept


def update_department(dept: Department, *, name: str, code: str, kind: str, parent_id: int | None,
                      sort_order: int, is_active: bool, clinical: bool | None = None) -> Department:
    """Rename or move a department; moving rewrites the paths below it and refreshes everybody's scope.
    clinical None keeps the flag (HR pushes do not carry it)."""
    before = audit.snapshot(dept, DEPARTMENT_FIELDS)
    name, code = clean(name), clean(code)
    parent = _parent(parent_id)
    _check_department(dept, name, code, kind, parent)
    if kind != dept.kind and db.session.scalar(select(Department.id).where(Department.parent_id == dept.id).limit(1)):
        raise ServiceError("该科室下还有下级，不能修改类型。", field="kind")
    if not is_active and dept.is_active:
        in_use = db.session.scalar(select(func.count()).where(Staff.department_id == dept.id, Staff.is_active))
        if in_use:
            raise ServiceError(f"该科室还有 {in_use} 名在职人员，请先调整人员所属科室。", field="is_active")
    moved = parent_id != dept.parent_id
    old_prefix = f"{dept.path}{dept.id}/"
    dept.name, dept.code, dept.kind, dept.sort_order, dept.is_active = name, code, kind, sort_order, is_active
    if clinical is not None:
        dept.clinical = clinical
    if moved:
        dept.parent_id = parent_id
        dept.path = _path_under(parent)
        new_prefix = f"{dept.path}{dept.id}/"
        for child in db.session.scalars(select(Department).where(Department.path.startswith(old_prefix))):
            child.path = new_prefix + child.path[len(old_prefix):]
        db.session.flush()
        bump_access_for_all()
    audit.record("update", "department", dept.id, label=name, before=before,
                 after=audit.snapshot(dept, DEPARTMENT_FIELDS))
    return dept


def department_tree(include_inactive: bool = True) -> list[Department]:
    """All departments in tree order (parents before children, siblings by sort order)."""
    stmt = select(Department)
    if not include_inactive:
        stmt = stmt.where(Department.is_active)
    return tree_order(list(db.session.scalars(stmt)))


def kept_while_org_unchanged(name: str, key, read):
    """`read()`, reused by this worker's page reads while the auth generation the session loader read is unchanged.

    Its triggers move it in the writing transaction of every write to users, staff, roles, their grants and
    departments: so only values read from those tables may be kept here. The value is shared by later requests:
    callers hand out copies (or immutable values)."""
    generation = g.get("auth_generation") if has_request_context() and request.method == "GET" else None
    cache = worker_cache(name)
    kept = cache.get(generation, key)
    if kept is None:
        kept = read()
        cache.put(generation, key, kept)
    return kept


def department_rows(include_inactive: bool = True) -> list:
    """The same departments in the same order as plain rows (id, name, parent_id, sort_order, path):
    for the department choices on every list page, no ORM objects (kept per worker: kept_while_org_unchanged)."""
    def read():
        stmt = select(Department.id, Department.name, Department.parent_id, Department.sort_order, Department.path)
        if not include_inactive:
            stmt = stmt.where(Department.is_active)
        return tree_order(db.session.execute(stmt).all())

    return list(kept_while_org_unchanged("department_rows", include_inactive, read))


def tree_order(rows: list) -> list:
    """Rows with id, parent_id, sort_order and name, parents before children and siblings by (sort_order, name)."""
    children: dict[int | None, list] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    ordered: list = []

    def walk(parent_id):
        for node in sorted(children.get(parent_id, []), key=lambda d: (d.sort_order, d.name)):
            ordered.append(node)
            walk(node.id)

    known = {row.id for row in rows}
    walk(None)
    for orphan_parent in [pid for pid in children if pid is not None and pid not in known]:
        walk(orphan_parent)  # parents filtered out as inactive: still list their children
    return ordered


def _check_staff(staff: Staff | None, employee_no: str, department_id: int) -> None:
    clash = select(Staff).where(Staff.id != (staff.id if staff else -1), Staff.employee_no == employee_no)
    if db.session.scalar(clash):
        raise ServiceError("工号已存在。", field="employee_no")
    dept = db.session.get(Department, department_id)
    if dept is None or not dept.is_active:
        raise ServiceError("所属科室不存在或已停用。", field="department_id")


def _check_reach(within: frozenset[int] | None, *department_ids: int) -> None:
    """A user's staff.edit reach (None = everywhere): both ends of a move must lie within it."""
    if within is not None and any(d not in within for d in department_ids):
        raise ServiceError("只能在您可以维护人员的科室范围内新建或调动人员。", field="department_id", status=403)


def create_staff(*, employee_no: str, name: str, title: str, position: str, department_id: int,
                 within: frozenset[int] | None = None) -> Staff:
    """Register a member of staff; `within` is the acting user's reach for staff.edit (None: unlimited)."""
    employee_no = clean(employee_no)
    _check_reach(within, department_id)
    _check_staff(None, employee_no, department_id)
    staff = Staff(employee_no=employee_no, name=clean(name), title=clean(title), position=clean(position),
                  department_id=department_id, is_active=True)
    db.session.add(staff)
    db.session.flush()
    audit.record("create", "staff", staff.id, label=staff.name, after=audit.snapshot(staff, STAFF_FIELDS))
    return staff


def update_staff(staff: Staff, *, employee_no: str, name: str, title: str, position: str, department_id: int,
                 is_active: bool, within: frozenset[int] | None = None) -> Staff:
    """Change a staff record; a move needs both departments within `within` (the user's staff.edit reach)."""
    _check_reach(within, staff.department_id, department_id)
    before = audit.snapshot(staff, STAFF_FIELDS)
    employee_no = clean(employee_no)
    _check_staff(staff, employee_no, department_id)
    moved = staff.department_id != department_id
    staff.employee_no, staff.name, staff.title = employee_no, clean(name), clean(title)
    staff.position, staff.department_id, staff.is_active = clean(position), department_id, is_active
    db.session.flush()
    if moved and staff.user is not None:
        staff.user.access_version += 1
    audit.record("update", "staff", staff.id, label=staff.name, before=before,
                 after=audit.snapshot(staff, STAFF_FIELDS))
    return staff


def staff_counts() -> dict[int, int]:
    rows = db.session.execute(select(Staff.department_id, func.count()).where(Staff.is_active)
                              .group_by(Staff.department_id))
    return {dept_id: count for dept_id, count in rows}
