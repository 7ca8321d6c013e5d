"""Bearer-token authentication for /api/v1: token -> its client system -> scope -> the acting account's permission."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request

from portal.auth.session import client_ip
from portal.core.actor import Actor, set_actor
from portal.core.permissions import SIGNED_IN

from . import tokens
from .errors import ApiError, api_error_response


def protect(declared) -> Callable:
    """The token check of a declared endpoint (registry.endpoint applies it): 401, 403 SCOPE_DENIED,
    403 PERMISSION_DENIED, else the view runs as the token's account. Only the token authenticates: the
    session machinery of pages never runs for /api/ (see portal.auth.session)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            g.api_endpoint = declared.endpoint
            try:
                token = tokens.authenticate(request.headers.get("Authorization"))
                g.api_client_id, g.api_token_prefix = token.client_id, token.token_prefix
                if declared.scope.code not in token.scope_set:
                    wanted = declared.scope
                    raise ApiError("SCOPE_DENIED", f"令牌的接口范围不包含“{wanted.label}”（{wanted.code}），"
                                                   "请联系系统管理员在对接系统中为该令牌勾选此范围。",
                                   details={"scope": wanted.code})
                permission = declared.permission
                if permission is not None and not (permission.implicit or permission.code in token.permissions):
                    raise ApiError("PERMISSION_DENIED",
                                   f"令牌所属账户没有“{permission.label}”权限（{permission.code}），"
                                   "请联系系统管理员授权。", details={"permission": permission.code})
            except ApiError as error:
                return api_error_response(error)
            # Audit rows and created_by name the token's user; the session hooks reset it at teardown.
            set_actor(Actor(token.user_id, token.user_name, client_ip(), f"接口令牌 {token.token_prefix}…"))
            g.api_token = token
            tokens.touch(token)
            return view(*args, **kwargs)

        # The URL-map test: an API view's permission is its account's permission (or just a valid token).
        wrapped.permission = declared.permission or SIGNED_IN
        wrapped.api_endpoint = declared
        return wrapped

    return decorator
