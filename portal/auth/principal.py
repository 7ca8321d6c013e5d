"""What a signed-in user may do and where, cached per (user, access_version).

The user row is read on every request (so a deactivated or locked account loses access at
once); roles, permissions and their reach are rebuilt only when access_version moves.

Scope belongs to a permission, not to a user: the departments a user may act on for a
permission are the union of the data scopes of the roles that grant that permission. A role
with a wide data scope and no permissions (a committee) therefore widens nothing, and a
department head who also holds a hospital-wide role for one permission keeps their own
department for every other permission.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from flask import current_app, has_app_context
from sqlalchemy import or_, select

from portal.extensions import db

_CACHE_SIZE = 2048
_lock = threading.Lock()
_NOWHERE: frozenset[int] = frozenset()


def _code(perm) -> str:
    """A permission given as a Permission or as its code."""
    code = getattr(perm, "code", perm)
    if not isinstance(code, str) or not code:
        raise TypeError("a permission (or its code) is required to scope data")
    return code


@dataclass(frozen=True, eq=False)
class Principal:
    permissions: frozenset[str]
    role_codes: frozenset[str]
    # For each permission held: the departments it reaches, None meaning every department.
    reach: Mapping[str, frozenset[int] | None]

    def departments_for(self, perm) -> frozenset[int] | None:
        """The departments the user may act on with this permission (None = all; empty when not held)."""
        return self.reach.get(_code(perm), _NOWHERE)

    def can_act_on(self, perm, department_id: int | None) -> bool:
        ids = self.departments_for(perm)
        return ids is None or (department_id is not None and department_id in ids)


def _app_cache() -> OrderedDict[tuple[int, int], Principal]:
    """The cache of this app: user ids and access versions mean something only within one database."""
    return current_app.extensions.setdefault("principal_cache", OrderedDict())


def principal_for(user) -> Principal:
    key = (user.id, user.access_version)
    _cache = _app_cache()
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    principal = _build(user)
    with _lock:
        _cache[key] = principal
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return principal


def clear_cache() -> None:
    """Forget this app's principals (each app keeps its own, so outside an app there is nothing to forget)."""
    if has_app_context():
        with _lock:
            _app_cache().clear()


def _union(a: frozenset[int] | None, b: frozenset[int] | None) -> frozenset[int] | None:
    return None if a is None or b is None else a | b


def _build(user) -> Principal:
    dept = user.department
    by_scope: dict[str, frozenset[int] | None] = {}  # each data scope's departments, computed once

    def departments(scope: str) -> frozenset[int] | None:
        if scope not in by_scope:
            by_scope[scope] = _departments(scope, dept)
        return by_scope[scope]

    reach: dict[str, frozenset[int] | None] = {}
    for role in user.roles:
        codes = {g.permission for g in role.grants}
        if not codes:
            continue  # a role that grants nothing widens nothing
        ids = departments(role.data_scope)
        for code in codes:
            reach[code] = _union(reach[code], ids) if code in reach else ids
    return Principal(frozenset(reach), frozenset(r.code for r in user.roles), MappingProxyType(reach))


def _departments(scope: str, dept) -> frozenset[int] | None:
    """The departments one data scope covers for a user of department `dept` (None = all)."""
    from .models import Department

    if scope == "all":
        return None
    if dept is None or scope not in ("own", "division"):
        return _NOWHERE
    root = (_division_of(dept) or dept) if scope == "division" else dept
    below = Department.path.startswith(f"{root.path}{root.id}/")
    return frozenset(db.session.execute(select(Department.id).where(or_(Department.id == root.id, below))).scalars())


def _division_of(dept):
    node = dept
    while node is not None:
        if node.kind == "division":
            return node
        node = node.parent
    return None
