"""Endpoint declarations: each domain's ``api.py`` declares its /api/v1 endpoints here, once.

    PLANS = scope("plans", "次日服务计划", "HIS 提交与读取次日服务计划")

    @endpoint("GET", "/plans/<plan_date>", scope=PLANS, permission=PLAN, summary="读取某日的服务计划",
              params=[Param("plan_date", "path", "日期 YYYY-MM-DD", format="date")],
              response={...}, errors=("BAD_DATE", "NOT_FOUND_PLAN"))
    def get_plan(plan_date): ...

The decorator adds the route to the API blueprint behind the token check (token -> scope -> the acting
account's permission); the platform builds from the declarations the scope list (token form), the
OpenAPI document (/api/v1/openapi.json) and the interface registry page (接口清单).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from portal.core.permissions import Permission

from . import bp

VERSION = "v1"


@dataclass(frozen=True)
class Scope:
    code: str
    label: str
    description: str


@dataclass(frozen=True)
class Param:
    """A path or query parameter: type string|integer|boolean; format "date" for YYYY-MM-DD."""

    name: str
    where: str  # "path" | "query"
    description: str
    type: str = "string"
    required: bool = False
    format: str | None = None
    enum: Sequence[str] | None = None


@dataclass(frozen=True)
class Endpoint:
    method: str
    rule: str  # below /api/v1, Flask syntax: "/plans/<plan_date>"
    scope: Scope
    summary: str
    endpoint: str  # Flask endpoint name ("api.submit_plan")
    permission: Permission | None = None
    description: str = ""
    params: Sequence[Param] = ()
    request: dict[str, Any] | None = None  # JSON schema of the body
    response: dict[str, Any] | None = None  # JSON schema of a 200 answer
    errors: Sequence[str] = ()  # the codes this endpoint itself raises (the token codes are added)
    tag: str = ""

    @property
    def path(self) -> str:
        return "/api/" + VERSION + self.rule

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


SCOPES: dict[str, Scope] = {}
ENDPOINTS: list[Endpoint] = []
# The codes every token-protected endpoint may answer.
AUTH_ERRORS = ("AUTH_MISSING", "AUTH_INVALID", "SCOPE_DENIED", "PERMISSION_DENIED", "BUSY", "INTERNAL")


def scope(code: str, label: str, description: str) -> Scope:
    """Declare a scope (a token names the scopes it may call); once per code."""
    if code in SCOPES:
        raise ValueError(f"API scope {code} declared twice")
    SCOPES[code] = found = Scope(code, label, description)
    return found


def endpoint(method: str, rule: str, *, scope: Scope, summary: str, permission: Permission | None = None,
             description: str = "", params: Sequence[Param] = (), request: dict | None = None,
             response: dict | None = None, errors: Sequence[str] = (), tag: str = "") -> Callable:
    """Declare an endpoint and add its route to /api/v1 behind the token check."""
    from .auth import protect
    from .errors import CODES

    unknown = [c for c in errors if c not in CODES]
    if unknown:
        raise ValueError(f"{method} {rule}: unknown error codes {unknown}")
    if scope.code not in SCOPES:
        raise ValueError(f"{method} {rule}: undeclared scope {scope.code}")

    def decorator(view):
        declared = Endpoint(method.upper(), rule, scope, summary, f"{bp.name}.{view.__name__}", permission,
                            description or (view.__doc__ or "").strip(), tuple(params), request, response,
                            tuple(errors), tag or scope.label)
        if any(e.endpoint == declared.endpoint for e in ENDPOINTS):
            raise ValueError(f"API endpoint {declared.endpoint} declared twice")
        wrapped = protect(declared)(view)
        bp.add_url_rule(rule, view_func=wrapped, methods=[declared.method])
        ENDPOINTS.append(declared)
        return wrapped

    return decorator


def by_endpoint() -> dict[str, Endpoint]:
    return {e.endpoint: e for e in ENDPOINTS}


def scope_choices() -> list[tuple[str, str]]:
    return [(s.code, f"{s.label}（{s.code}）") for s in SCOPES.values()]


def obj(required: Sequence[str] = (), **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def arr(items: dict[str, Any], max_items: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if max_items:
        schema["maxItems"] = max_items
    return schema


def text(description: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def integer(description: str = "") -> dict[str, Any]:
    return {"type": "integer", **({"description": description} if description else {})}


def boolean(description: str = "") -> dict[str, Any]:
    return {"type": "boolean", **({"description": description} if description else {})}
