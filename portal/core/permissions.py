"""Permissions are constants in code; roles (data) grant them.

Each domain registers its permissions in its own ``permissions.py`` with ``register``.
Every view declares exactly one with ``@require(...)`` (or ``@public``); a test walks the
URL map and fails for a view without one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user


@dataclass(frozen=True)
class Permission:
    code: str
    label: str
    description: str
    group: str
    # Implicit permissions are held by every signed-in user (own account, home page).
    implicit: bool = False

    def __str__(self) -> str:
        return self.code


REGISTRY: dict[str, Permission] = {}


def register(code: str, label: str, description: str, group: str, implicit: bool = False) -> Permission:
    if code in REGISTRY:
        raise ValueError(f"permission {code} registered twice")
    if code.count(".") != 1:
        raise ValueError(f"permission {code} is not domain.action")
    perm = Permission(code, label, description, group, implicit)
    REGISTRY[code] = perm
    return perm


def grouped() -> dict[str, list[Permission]]:
    groups: dict[str, list[Permission]] = {}
    for perm in REGISTRY.values():
        if not perm.implicit:
            groups.setdefault(perm.group, []).append(perm)
    return groups


SIGNED_IN = register("account.self", "本人账户", "登录后即有：首页、个人信息、修改密码", "账户", implicit=True)


def has_permission(user, perm: Permission) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return perm.implicit or perm.code in user.principal.permissions


def require(perm: Permission) -> Callable:
    """Declare the one permission a view needs: anonymous users go to login, others get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if request.headers.get("HX-Request"):
                    abort(401)
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not has_permission(current_user, perm):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = perm
        return wrapped

    return decorator


def public(view):
    """Declare a view open to everybody (login, health check)."""
    view.permission = None
    view.is_public = True
    return view
