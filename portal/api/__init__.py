"""/api/v1: JSON endpoints for other hospital systems (HIS, HR), authenticated by bearer tokens.

Two blueprints: ``bp`` (/api/v1, CSRF-exempt: callers authenticate with a token, not a cookie) and
``admin_tokens_bp`` (/admin/api-tokens, the sysadmin's token pages, CSRF-protected like every page).
"""

from flask import Blueprint

from portal.core.permissions import register
from portal.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MANAGE_TOKENS = register("api.tokens", "管理接口令牌",
                         "为 HIS 等院内系统创建、停用接口令牌（令牌以所属账户的权限调用接口）", "系统管理")

from . import errors, plan_views  # noqa: E402,F401
from .token_views import admin_tokens_bp  # noqa: E402

blueprints = (bp, admin_tokens_bp)
