"""System administration: users, roles and permissions, the department tree, and staff."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import departments, roles, staff, users  # noqa: E402,F401
