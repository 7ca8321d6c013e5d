"""Sign-in, own account, and (in ``admin``) users, roles, departments and staff."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import imports, labels, permissions, views  # noqa: E402,F401
