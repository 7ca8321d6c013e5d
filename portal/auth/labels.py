"""What accounts, roles, departments and staff fields and values read as on screen (core.labels registry)."""

from __future__ import annotations

from sqlalchemy import select

from portal.core import labels
from portal.core.permissions import REGISTRY
from portal.extensions import db

from .models import DATA_SCOPES, DEPARTMENT_KINDS, LOGIN_EVENTS, Department, Role, Staff, User


def _id(value) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() and 0 < int(text) < 2**31 else None


def user_name(value) -> str | None:
    user = db.session.get(User, _id(value)) if _id(value) else None
    return user.display_name if user else None


def department_name(value) -> str | None:
    department = db.session.get(Department, _id(value)) if _id(value) else None
    return department.name if department else None


def staff_name(value) -> str | None:
    staff = db.session.get(Staff, _id(value)) if _id(value) else None
    return staff.name if staff else None


def role_name(value) -> str | None:
    if _id(value):
        role = db.session.get(Role, _id(value))
        return role.name if role else None
    return db.session.scalar(select(Role.name).where(Role.code == str(value)))


def permission_label(value) -> str | None:
    permission = REGISTRY.get(str(value))
    return permission.label if permission else None


for _field in ("user_id", "manager_id", "case_manager_id", "completed_by_id", "applicant_id", "actor_id"):
    labels.register_values(labels.ANY, _field, user_name)
for _field in ("department_id", "ward_id", "parent_id"):
    labels.register_values(labels.ANY, _field, department_name)
labels.register_values(labels.ANY, "staff_id", staff_name)
labels.register_values(labels.ANY, "role_codes", role_name)
labels.register_values(labels.ANY, "role_id", role_name)
labels.register_values(labels.ANY, "permissions", permission_label)
labels.register_values(labels.ANY, "data_scope", DATA_SCOPES)
labels.register_values("department", "kind", DEPARTMENT_KINDS)
labels.register_values("login_event", "event", LOGIN_EVENTS)
labels.register_fields("user", {"login_name": "登录名", "staff_id": "对应人员", "is_active_flag": "启用",
                                "is_active": "启用", "role_codes": "角色", "must_change_password": "须修改密码"})
labels.register_fields("role", {"code": "角色代码", "name": "角色名称", "description": "说明"})
labels.register_fields("department", {"name": "名称", "code": "代码", "kind": "类型", "parent_id": "上级"})
labels.register_fields("staff", {"name": "姓名", "title": "职称", "position": "职务", "department_id": "所在科室",
                                 "is_active": "在职"})
