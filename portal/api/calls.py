"""The /api/v1 call log: one Redis RPUSH per call (no database round trip in the request), written to
``api_calls`` in bulk by a job every minute (and before the registry page reads it); purged after
API_CALL_LOG_DAYS.

If Redis cannot be reached the entry waits in this process's memory (bounded) and goes with the
next flush from this process.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from flask import current_app, g, request
from sqlalchemy import case, delete, func, insert, select

from portal.core.redis_conn import get_redis
from portal.core.timeutil import utcnow
from portal.extensions import db, own_write_transaction

from .models import ApiCall, SsoNonce

log = logging.getLogger(__name__)
_pending: deque[str] = deque(maxlen=50_000)
FLUSH_BATCH = 5_000


def _key() -> str:
    return f"{current_app.config['RQ_QUEUE']}:api_calls"


def start() -> None:
    g.api_call_started = time.perf_counter()


def record(response) -> None:
    """Queue this request's log entry (after the response is built; never fails the request)."""
    started = g.get("api_call_started")
    duration = int((time.perf_counter() - started) * 1000) if started else 0
    rule = request.url_rule.rule if request.url_rule is not None else request.path[:200]
    entry = json.dumps([utcnow().timestamp(), g.get("api_client_id"), g.get("api_token_prefix") or "",
                        g.get("api_endpoint") or (request.endpoint or ""), rule, request.method[:8],
                        response.status_code, g.get("api_error_code") or "", duration], ensure_ascii=False)
    try:
        get_redis().rpush(_key(), entry)
    except (redis.RedisError, OSError):
        _pending.append(entry)


def _rows(entries: list[bytes | str]) -> list[dict]:
    rows = []
    for raw in entries:
        try:
            at, client_id, prefix, endpoint, route, method, status, code, duration = json.loads(raw)
            rows.append({"created_at": datetime.fromtimestamp(at, tz=UTC),
                         "client_id": client_id, "token_prefix": prefix[:12], "endpoint": endpoint[:100],
                         "route": route[:200], "method": method[:8], "status": int(status),
                         "error_code": (code or "")[:32], "duration_ms": int(duration)})
        except (ValueError, TypeError):
            log.warning("dropped a malformed API call log entry")
    return rows


def flush() -> int:
    """Move the buffered entries into api_calls (bulk insert); the number written."""
    entries: list[bytes | str] = []
    while _pending:
        entries.append(_pending.popleft())
    key = _key()
    try:
        connection = get_redis()
        while True:
            pipe = connection.pipeline(transaction=True)
            pipe.lrange(key, 0, FLUSH_BATCH - 1)
            pipe.ltrim(key, FLUSH_BATCH, -1)
            batch, _ = pipe.execute()
            entries.extend(batch)
            if len(batch) < FLUSH_BATCH:
                break
    except (redis.RedisError, OSError):
        log.warning("API call log: Redis unavailable, flushing this process's entries only")
    rows = _rows(entries)
    if not rows:
        return 0
    try:
        with own_write_transaction() as session:
            session.execute(insert(ApiCall), rows)
    except Exception:
        _pending.extend(e.decode() if isinstance(e, bytes) else e for e in entries)  # try again next time
        raise
    return len(rows)


def purge(days: int | None = None) -> dict[str, int]:
    """Delete call log entries older than `days` (API_CALL_LOG_DAYS) and the expired nonces of signed links."""
    days = days if days is not None else current_app.config["API_CALL_LOG_DAYS"]
    now = utcnow()
    with own_write_transaction() as session:
        calls = session.execute(delete(ApiCall).where(ApiCall.created_at < now - timedelta(days=days))).rowcount
        nonces = session.execute(delete(SsoNonce).where(SsoNonce.expires_at < now)).rowcount
    return {"calls": calls or 0, "nonces": nonces or 0}


@dataclass(frozen=True)
class Usage:
    calls: int
    errors: int
    last_call: datetime | None
    avg_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


EMPTY = Usage(0, 0, None, None)


def usage(start: datetime, end: datetime, client_id: int | None = None) -> dict[tuple[int | None, str, str], Usage]:
    """Calls in [start, end) by (client, endpoint, method): count, errors (status >= 400), last call, mean ms."""
    stmt = (select(ApiCall.client_id, ApiCall.endpoint, ApiCall.method, func.count(),
                   func.sum(case((ApiCall.status >= 400, 1), else_=0)), func.max(ApiCall.created_at),
                   func.avg(ApiCall.duration_ms))
            .where(ApiCall.created_at >= start, ApiCall.created_at < end)
            .group_by(ApiCall.client_id, ApiCall.endpoint, ApiCall.method))
    if client_id is not None:
        stmt = stmt.where(ApiCall.client_id == client_id)
    return {(cid, endpoint, method): Usage(int(count), int(errors or 0), last, float(avg) if avg is not None else None)
            for cid, endpoint, method, count, errors, last, avg in db.session.execute(stmt)}


def combine(items) -> Usage:
    items = list(items)
    calls = sum(u.calls for u in items)
    if not calls:
        return EMPTY
    lasts = [u.last_call for u in items if u.last_call]
    avg = sum((u.avg_ms or 0) * u.calls for u in items) / calls
    return Usage(calls, sum(u.errors for u in items), max(lasts) if lasts else None, avg)
