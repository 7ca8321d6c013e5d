"""/api/v1: the platform for other hospital systems (HIS, HR): client systems and their tokens with scopes,
endpoint declarations, one error-code table, the OpenAPI document, the call log and the interface registry
(接口清单), and signed links into portal pages (页面集成, /sso/his).

Blueprints: ``bp`` (/api/v1, CSRF-exempt: callers authenticate with a token, not a cookie), the admin pages
(/admin/api-clients, /admin/api-registry) and ``sso_bp`` (/sso). Endpoints live with their domain
(``<domain>/api.py``, named in its declaration's ``api``) and are declared with ``registry.endpoint``.
"""

from flask import Blueprint, request

from portal.core.domains import Domain, NavEntry, Schedule
from portal.core.permissions import register
from portal.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MANAGE_CLIENTS = register("api.tokens", "对接系统与接口令牌",
                          "登记 HIS 等对接系统，签发、停用接口令牌并选择接口范围，更换页面集成密钥，查看接口清单",
                          "系统管理")

DOMAIN = Domain(
    name="api",
    label="接口",
    blueprints=[bp, "portal.api.views:admin_bp", "portal.api.sso:sso_bp"],
    models=["portal.api.models"],
    permissions=[MANAGE_CLIENTS],
    grants={"sysadmin": [MANAGE_CLIENTS]},
    nav=[NavEntry("系统管理", "对接系统", "api_admin.list_clients", MANAGE_CLIENTS, 70),
         NavEntry("系统管理", "接口清单", "api_admin.registry", MANAGE_CLIENTS, 71)],
    schedules=[Schedule("flush_api_calls", "jobs.api.flush_api_calls", interval=60),
               Schedule("purge_api_calls", "jobs.api.purge_api_calls", cron="47 3 * * *")],
    audit_labels={"api_token": "接口令牌", "api_client": "对接系统"},
)

PREFIX = bp.url_prefix + "/"


@bp.record_once
def _log_every_call(state) -> None:
    # Registered on the app, not the blueprint: a call that matched no route is logged too.
    from . import calls

    @state.app.before_request
    def _start():
        if request.path.startswith(PREFIX):
            calls.start()

    @state.app.after_request
    def _record(response):
        if request.path.startswith(PREFIX):
            calls.record(response)
        return response


from . import errors, openapi  # noqa: E402,F401
