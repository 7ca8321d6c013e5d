"""System administration: users, roles and permissions, the department tree, and staff."""

from flask import Blueprint

from portal.core import nav

from ..permissions import MANAGE_DEPARTMENTS, MANAGE_ROLES, MANAGE_USERS, VIEW_STAFF

bp = Blueprint("admin", __name__, url_prefix="/admin")

nav.add("系统管理", "用户管理", "admin.list_users", MANAGE_USERS, 10)
nav.add("系统管理", "角色与权限", "admin.list_roles", MANAGE_ROLES, 20)
nav.add("系统管理", "科室管理", "admin.list_departments", MANAGE_DEPARTMENTS, 30)
nav.add("系统管理", "人员档案", "admin.list_staff", VIEW_STAFF, 40)

from . import departments, roles, staff, users  # noqa: E402,F401
