"""Bearer-token authentication for /api/v1: the token acts as its user (permissions, audit)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from portal.auth.session import client_ip
from portal.core.actor import Actor, set_actor
from portal.core.permissions import Permission, has_permission

from . import tokens
from .errors import json_error


def require_token(permission: Permission) -> Callable:
    """Declare the one permission an API view needs: no valid token is 401, a user without it 403 (JSON)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            try:
                token = tokens.authenticate(request.headers.get("Authorization"))
            except tokens.TokenRefused as refused:
                return json_error(refused.status, refused.message)
            user = token.user
            if not has_permission(user, permission):
                return json_error(403, f"令牌所属账户没有“{permission.label}”权限（{permission.code}），"
                                       "请联系系统管理员授权。")
            # Audit rows and created_by name the token's user; the session hooks reset it at teardown.
            set_actor(Actor(user.id, user.display_name, client_ip(), f"接口令牌 {token.token_prefix}…"))
            g.api_token, g.api_user = token, user
            tokens.touch(token)
            return view(*args, **kwargs)

        wrapped.permission = permission
        return wrapped

    return decorator
