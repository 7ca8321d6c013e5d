"""Department scoping: every list and every lookup by id goes through these helpers.

A department head sees their own department (and its wards), a division-level role its
division, medical affairs and the sysadmin everything. A record outside the user's scope is
answered with 404, exactly as if it did not exist.
"""

from __future__ import annotations

from typing import TypeVar

from flask import abort
from sqlalchemy import Select, false

from portal.extensions import db

T = TypeVar("T")
MAX_ID = 2**31 - 1  # larger numbers in a URL are no record of ours (and overflow the driver)


def _ident(ident) -> int:
    try:
        value = int(ident)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < value <= MAX_ID:
        abort(404)
    return value


def scope_query(stmt: Select, department_column, principal) -> Select:
    """Limit a select to the departments the principal may see."""
    ids = principal.department_ids
    if ids is None:
        return stmt
    if not ids:
        return stmt.where(false())
    return stmt.where(department_column.in_(ids))


def get_scoped_or_404(model: type[T], ident, principal, department_attr: str = "department_id") -> T:
    """Load one record by id, or 404 when it does not exist, is deleted or lies outside the scope."""
    obj = db.session.get(model, _ident(ident))
    if obj is None or getattr(obj, "is_deleted", False):
        abort(404)
    if not principal.can_see_department(getattr(obj, department_attr)):
        abort(404)
    return obj


def get_or_404(model: type[T], ident) -> T:
    obj = db.session.get(model, _ident(ident))
    if obj is None or getattr(obj, "is_deleted", False):
        abort(404)
    return obj
