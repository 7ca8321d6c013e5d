"""What a signed-in user may do and see, cached per (user, access_version).

The user row is read on every request (so a deactivated or locked account loses access at
once); roles, permissions and visible departments are rebuilt only when access_version moves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import or_, select

from portal.extensions import db

SCOPE_RANK = {"none": 0, "own": 1, "division": 2, "all": 3}
_CACHE_SIZE = 2048
_cache: OrderedDict[tuple[int, int], Principal] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class Principal:
    permissions: frozenset[str]
    role_codes: frozenset[str]
    scope: str
    # None means every department.
    department_ids: frozenset[int] | None

    def can_see_department(self, department_id: int | None) -> bool:
        return self.department_ids is None or department_id in self.department_ids


def principal_for(user) -> Principal:
    key = (user.id, user.access_version)
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
    with _lock:
        _cache.clear()


def _build(user) -> Principal:
    from .models import Department

    permissions = frozenset(g.permission for role in user.roles for g in role.grants)
    scope = max((role.data_scope for role in user.roles), key=lambda s: SCOPE_RANK.get(s, 0), default="none")
    dept = user.department
    if scope == "all":
        ids = None
    elif dept is None or scope == "none":
        ids = frozenset()
    else:
        root = dept
        if scope == "division":
            root = _division_of(dept) or dept
        below = Department.path.startswith(f"{root.path}{root.id}/")
        rows = db.session.execute(select(Department.id).where(or_(Department.id == root.id, below))).scalars()
        ids = frozenset(rows)
    return Principal(permissions, frozenset(r.code for r in user.roles), scope, ids)


def _division_of(dept):
    node = dept
    while node is not None:
        if node.kind == "division":
            return node
        node = node.parent
    return None
