"""What the client-system pages and the interface registry (接口清单) show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from portal.core.timeutil import local_day_bounds
from portal.extensions import db

from . import calls
from .models import ApiClient, ApiToken
from .registry import ENDPOINTS, VERSION, Endpoint


def clients_query(state: str = ""):
    stmt = select(ApiClient).order_by(ApiClient.is_active.desc(), ApiClient.code)
    if state:
        stmt = stmt.where(ApiClient.is_active.is_(state == "active"))
    return stmt


def active_token_counts() -> dict[int, int]:
    rows = db.session.execute(select(ApiToken.client_id, func.count()).where(ApiToken.is_active)
                              .group_by(ApiToken.client_id))
    return dict(rows.all())


def all_clients() -> list[ApiClient]:
    return list(db.session.scalars(select(ApiClient).order_by(ApiClient.code)))


@dataclass(frozen=True)
class EndpointRow:
    declared: Endpoint | None
    method: str
    path: str
    endpoint: str
    usage: calls.Usage

    @property
    def version(self) -> str:
        return VERSION


@dataclass(frozen=True)
class ClientRow:
    client: ApiClient | None
    endpoint: EndpointRow
    usage: calls.Usage


@dataclass(frozen=True)
class Registry:
    start: datetime
    end: datetime
    endpoints: list[EndpointRow]
    clients: list[tuple[ApiClient, int, calls.Usage]]
    breakdown: list[ClientRow]


def registry(first: date, last: date, client_id: int | None = None) -> Registry:
    """Every declared endpoint and client system with its calls in [first, last] (local days)."""
    calls.flush()  # what the buffer holds counts too
    start, end = local_day_bounds(first)[0], local_day_bounds(last)[1]
    usage = calls.usage(start, end, client_id)
    declared = {(e.endpoint, e.method): e for e in ENDPOINTS}
    rows: dict[tuple[str, str], EndpointRow] = {}
    for key, endpoint in declared.items():
        rows[key] = EndpointRow(endpoint, endpoint.method, endpoint.path, endpoint.endpoint, calls.EMPTY)
    by_endpoint: dict[tuple[str, str], list[calls.Usage]] = {}
    for (_cid, name, method), used in usage.items():
        by_endpoint.setdefault((name, method), []).append(used)
    for key, items in by_endpoint.items():
        known = rows.get(key)
        if known is None:  # calls that matched no declared endpoint (a wrong URL, an old version)
            known = EndpointRow(None, key[1], key[0] or "（未匹配的地址）", key[0], calls.EMPTY)
        rows[key] = EndpointRow(known.declared, known.method, known.path, known.endpoint, calls.combine(items))
    clients = {c.id: c for c in all_clients()}
    tokens = active_token_counts()
    shown = [c for c in clients.values() if client_id in (None, c.id)]
    client_rows = [(c, tokens.get(c.id, 0), calls.combine(u for (cid, _, _), u in usage.items() if cid == c.id))
                   for c in shown]
    breakdown = sorted(
        (ClientRow(clients.get(cid), rows[(name, method)], used) for (cid, name, method), used in usage.items()),
        key=lambda r: (r.client.code if r.client else "~", r.endpoint.path, r.endpoint.method))
    return Registry(start, end, sorted(rows.values(), key=lambda r: (r.declared is None, r.path, r.method)),
                    client_rows, breakdown)
