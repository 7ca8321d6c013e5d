"""/api/v1: JSON endpoints for other hospital systems (HIS, HR), authenticated by bearer tokens.

Two blueprints: ``bp`` (/api/v1, CSRF-exempt: callers authenticate with a token, not a cookie) and
``admin_tokens_bp`` (/admin/api-tokens, the sysadmin's token pages, CSRF-protected like every page).
Endpoints live with their domain (``<domain>/api.py``, named in its declaration's ``api``) and add their
routes to ``bp``; token auth, errors and the call log stay here.
"""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry
from portal.core.permissions import register
from portal.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MANAGE_TOKENS = register("api.tokens", "管理接口令牌",
                         "为 HIS 等院内系统创建、停用接口令牌（令牌以所属账户的权限调用接口）", "系统管理")

DOMAIN = Domain(
    name="api",
    label="接口",
    blueprints=[bp, "portal.api.token_views:admin_tokens_bp"],
    models=["portal.api.models"],
    permissions=[MANAGE_TOKENS],
    grants={"sysadmin": [MANAGE_TOKENS]},
    nav=[NavEntry("系统管理", "接口令牌", "api_tokens.list_tokens", MANAGE_TOKENS, 70)],
    audit_labels={"api_token": "接口令牌"},
)

from . import errors  # noqa: E402,F401
