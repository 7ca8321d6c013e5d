"""Department scoping: every list and every lookup by id goes through these helpers.

Scope belongs to a permission: a department head edits staff of their own department (and its
wards), a division-level role its division, medical affairs and the sysadmin everything, and a
role held for one permission widens only that permission. Each helper therefore takes the
permission the view acts with (required, so no caller can forget it). A record outside the
permission's reach is answered with 404, exactly as if it did not exist; a record the user may
see (``seen_with``) but not act on is a 403.
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


def scope_query(stmt: Select, department_column, principal, perm) -> Select:
    """Limit a select to the departments the principal may act on with `perm`."""
    ids = principal.departments_for(perm)
    if ids is None:
        return stmt
    if not ids:
        return stmt.where(false())
    return stmt.where(department_column.in_(ids))


def get_scoped_or_404(model: type[T], ident, principal, perm, department_attr: str = "department_id", *,
                      seen_with=None) -> T:
    """Load one record by id for acting on it with `perm`: 404 when it does not exist, is deleted or lies
    outside the permission's departments; 403 when it lies within `seen_with`'s (the user may see it)."""
    obj = db.session.get(model, _ident(ident))
    if obj is None or getattr(obj, "is_deleted", False):
        abort(404)
    department_id = getattr(obj, department_attr)
    if not principal.can_act_on(perm, department_id):
        if seen_with is not None and principal.can_act_on(seen_with, department_id):
            abort(403, "该记录不在您可以操作的科室范围内。")
        abort(404)
    return obj


def get_or_404(model: type[T], ident) -> T:
    obj = db.session.get(model, _ident(ident))
    if obj is None or getattr(obj, "is_deleted", False):
        abort(404)
    return obj
