"""Sign-in, own account, and (in ``admin``) users, roles, departments and staff."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry

from .permissions import EDIT_STAFF, MANAGE_DEPARTMENTS, MANAGE_ROLES, MANAGE_USERS, VIEW_STAFF

bp = Blueprint("auth", __name__)

DOMAIN = Domain(
    name="auth",
    label="账户与组织",
    blueprints=[bp, "portal.auth.admin:bp"],
    models=["portal.auth.models"],
    permissions=[MANAGE_USERS, MANAGE_ROLES, MANAGE_DEPARTMENTS, VIEW_STAFF, EDIT_STAFF],
    grants={"sysadmin": [MANAGE_USERS, MANAGE_ROLES, MANAGE_DEPARTMENTS, VIEW_STAFF, EDIT_STAFF],
            "ma_admin": [VIEW_STAFF, EDIT_STAFF], "ma_staff": [VIEW_STAFF], "dept_head": [VIEW_STAFF, EDIT_STAFF],
            "dept_secretary": [VIEW_STAFF], "cm_supervisor": [VIEW_STAFF]},
    imports=["portal.auth.imports"],
    api=["portal.auth.api"],
    nav=[NavEntry("系统管理", "用户管理", "admin.list_users", MANAGE_USERS, 10),
         NavEntry("系统管理", "角色与权限", "admin.list_roles", MANAGE_ROLES, 20),
         NavEntry("系统管理", "科室管理", "admin.list_departments", MANAGE_DEPARTMENTS, 30),
         NavEntry("系统管理", "人员档案", "admin.list_staff", VIEW_STAFF, 40)],
    demo="portal.auth.demo:build",
    bench="bench.generate:generate",
    bench_load="bench.load_auth:load",
)

from . import labels, views  # noqa: E402,F401
