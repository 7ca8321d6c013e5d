"""The generator's shared context: scales, bulk writes (COPY on PostgreSQL) and a keyed audit chain written in bulk.

Each domain declares ``bench="module:function"``; ``run(scale)`` calls them in installed order with one
``Context``. A generator adds rows with ``ctx.bulk(Model, columns, rows)`` (ids assigned here, in order, so
later generators can refer to them without reading back), adds audit records with ``ctx.audit.add(...)``
and returns ``{what: rows}``. Never the ORM row by row: a few reference rows may go through the services.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import JSON, Table, text

from portal.core import audit as audit_mod
from portal.core.timeutil import LOCAL_TZ, local_today
from portal.extensions import db

PASSWORD = "Bench#2026ok"


@dataclass(frozen=True)
class Scale:
    name: str
    departments: int  # clinical departments, each with one ward
    staff: int
    users_every: int  # one login for every n-th member of staff
    case_managers: int
    patients: int
    days: int  # of history
    tasks: int  # care tasks over the whole history (about 93% done: ledger rows)
    plan_items: int  # tomorrow's plan
    logins: int  # login events
    notifications: int
    approvals: int
    audit_extra: int  # audit records beyond the ones the generated work implies (views, reveals, exports)


SCALES = {
    "small": Scale("small", departments=6, staff=120, users_every=2, case_managers=4, patients=400, days=120,
                   tasks=6_000, plan_items=60, logins=2_000, notifications=1_000, approvals=120, audit_extra=2_000),
    "medium": Scale("medium", departments=40, staff=1_500, users_every=2, case_managers=20, patients=5_000,
                    days=1_826, tasks=400_000, plan_items=1_000, logins=60_000, notifications=40_000, approvals=4_000,
                    audit_extra=200_000),
    "hospital": Scale("hospital", departments=80, staff=3_000, users_every=2, case_managers=40, patients=10_000,
                      days=1_826, tasks=1_300_000, plan_items=2_000, logins=300_000, notifications=200_000,
                      approvals=20_000, audit_extra=1_000_000),
}


def _fill(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


class AuditWriter:
    """Audit records chained with the same keyed hash as ``core.audit.record``, written in bulk.

    Records keep the order they are added in (ids follow it); ``flush`` continues the chain from the last
    record in the database, so services that audit through the ORM may run between flushes.
    """

    def __init__(self, ctx: Context, batch: int = 50_000):
        self.ctx, self.batch, self.pending, self.written = ctx, batch, [], 0
        secret = current_app.config.get("AUDIT_KEY") or current_app.config["DATA_KEY"]
        self.key = hashlib.sha256(b"portal-audit-chain\x00" + secret.encode()).digest()

    def add(self, when: datetime, user: tuple[int | None, str], entity_type: str, entity_id: Any, action: str,
            label: str = "", changes: dict | None = None, ip: str = "10.8.0.1", agent: str = "Mozilla/5.0") -> None:
        self.pending.append((when.astimezone(UTC).replace(microsecond=0), user[0], user[1][:64], ip, agent,
                             entity_type, str(entity_id), label[:255], action, audit_mod._plain(changes or {})))
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        conn = self.ctx.connection
        prev = conn.execute(text("SELECT hash FROM audit_logs ORDER BY id DESC LIMIT 1")).scalar() or audit_mod.GENESIS
        rows = []
        key = self.key
        for created, uid, uname, ip, agent, etype, eid, label, action, changes in self.pending:
            log = types.SimpleNamespace(created_at=created, user_id=uid, user_name=uname, ip=ip, user_agent=agent,
                                        entity_type=etype, entity_id=eid, entity_label=label, action=action,
                                        changes=changes, prev_hash=prev)
            digest = hmac.new(key, audit_mod._payload(log), hashlib.sha256).hexdigest()
            rows.append((created, uid, uname, ip, agent, etype, eid, label, action, changes, prev, digest))
            prev = digest
        self.pending = []
        self.ctx.bulk(audit_mod.AuditLog, ("created_at", "user_id", "user_name", "ip", "user_agent", "entity_type",
                                           "entity_id", "entity_label", "action", "changes", "prev_hash", "hash"), rows)
        self.written += len(rows)


@dataclass
class Context:
    """What the domain generators share, in installed order."""

    scale: Scale
    rng: random.Random
    today: date = field(default_factory=local_today)
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    departments: dict[str, int] = field(default_factory=dict)  # code -> id (hospital "BH", divisions, "BKnnn")
    wards: list[int] = field(default_factory=list)  # ward department ids
    users: dict[str, int] = field(default_factory=dict)  # login name -> user id (case managers "bcmNN", ...)
    ids: dict[str, list[int]] = field(default_factory=dict)  # named id lists: "case_managers", "patients", ...
    names: dict[int, str] = field(default_factory=dict)  # user id -> display name (for audit records)
    counts: dict[str, int] = field(default_factory=dict)
    audit: AuditWriter = None  # type: ignore[assignment]

    def __post_init__(self):
        if self.audit is None:
            self.audit = AuditWriter(self)

    @property
    def connection(self):
        return db.session.connection()

    @property
    def postgres(self) -> bool:
        return self.connection.dialect.name == "postgresql"

    def user(self, user_id: int | None) -> tuple[int | None, str]:
        return user_id, self.names.get(user_id, "") if user_id else "系统"

    def day(self, back: int) -> date:
        return self.today - timedelta(days=back)

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)

    def _start(self, table: str) -> int:
        return (self.connection.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar() or 0) + 1

    def bulk(self, model: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, ids: bool = True,
             ) -> list[int]:
        """Insert rows (tuples in ``columns`` order); returns their ids, assigned here in row order.

        Columns not given take their Python-side default; on PostgreSQL the rows go through COPY.
        """
        table: Table = model.__table__ if hasattr(model, "__table__") else model
        rows = list(rows)
        if not rows:
            return []
        columns = list(columns)
        by_name = {c.name: c for c in table.columns}
        defaults = {}
        for col in table.columns:
            if col.name in columns or col.primary_key or col.default is None:
                continue
            arg = col.default.arg
            defaults[col.name] = arg(None) if callable(arg) else arg
        new_ids: list[int] = []
        if ids and "id" in by_name and "id" not in columns:
            start = self._start(table.name)
            new_ids = list(range(start, start + len(rows)))
            columns = ["id", *columns]
            rows = [(i, *r) for i, r in zip(new_ids, rows, strict=True)]
        extra = list(defaults)
        all_columns = columns + extra
        tail = tuple(defaults[c] for c in extra)
        if self.postgres:
            json_cols = {i for i, c in enumerate(all_columns) if isinstance(by_name[c].type, JSON)}
            raw = self.connection.connection.driver_connection
            with raw.cursor() as cur:
                names = ", ".join(f'"{c}"' for c in all_columns)
                with cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        full = (*row, *tail)
                        if json_cols:
                            full = tuple(_fill(v) if i in json_cols else v for i, v in enumerate(full))
                        copy.write_row(full)
                if new_ids:
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), %s)",
                                (new_ids[-1],))
        else:
            keys = [by_name[c].key for c in all_columns]
            for start in range(0, len(rows), 20_000):
                self.connection.execute(table.insert(), [dict(zip(keys, (*r, *tail), strict=True))
                                                         for r in rows[start:start + 20_000]])
        self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)
        return new_ids


def run(scale: str | Scale, *, seed: int = 20261201, echo: Callable[[str], None] | None = print) -> Context:
    """Every installed domain's generator in installed order, then the audit chain's tail; commits per domain."""
    from portal.core import domains

    ctx = Context(scale=SCALES[scale] if isinstance(scale, str) else scale, rng=random.Random(seed))
    timings: list[tuple[str, float, dict]] = []
    for domain in domains.installed():
        if not domain.bench:
            continue
        started = time.perf_counter()
        made = domains.resolve(domain.bench)(ctx) or {}
        ctx.audit.flush()
        db.session.commit()
        timings.append((domain.name, time.perf_counter() - started, made))
        if echo:
            echo(f"  {domain.name:12} {time.perf_counter() - started:7.1f} s  "
                 + ", ".join(f"{k} {v:,}" for k, v in made.items()))
    if ctx.postgres:
        started = time.perf_counter()
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # VACUUM as well: freshly copied tables have no visibility map, so index-only scans would visit
            # every row, unlike a database that autovacuum has kept for years.
            conn.execute(text("VACUUM (ANALYZE)"))
        if echo:
            echo(f"  {'VACUUM':12} {time.perf_counter() - started:7.1f} s")
    ctx.timings = timings  # type: ignore[attr-defined]
    if echo:
        echo(f"\n{'table':28} {'rows':>12}")
        for table, rows in sorted(ctx.counts.items()):
            echo(f"{table:28} {rows:>12,}")
        echo(f"{'total seconds':28} {sum(t for _, t, _ in timings):>12.1f}")
    return ctx
