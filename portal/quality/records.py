"""Writing records in bulk by record id: new ones inserted, changed ones corrected, the same ones left alone.

Shared by the Excel imports and the HIS push of discharges and surgeries (and the events, by event number):
each caller holds ``summary.lock()`` and keeps the summary current around the write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from portal.core.actor import current_actor
from portal.core.timeutil import utcnow
from portal.extensions import db

CHUNK = 2000


@dataclass
class Written:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    changes: dict[str, dict[str, list]] = field(default_factory=dict)  # record id -> {field: [before, after]}

    def as_dict(self) -> dict[str, Any]:
        return {"created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "created_keys": self.created, "updated_keys": self.updated}


def existing_rows(model, key: str, values: Sequence[str], fields: Sequence[str], where=()) -> dict[str, dict]:
    """The stored rows of these keys as plain dicts (id and `fields`), a query per 500 keys."""
    out = {}
    column = getattr(model, key)
    wanted = sorted({v for v in values if v})
    for start in range(0, len(wanted), CHUNK):
        stmt = select(model.id, column, *(getattr(model, f) for f in fields)).where(
            column.in_(wanted[start:start + CHUNK]), *where)
        for row in db.session.execute(stmt):
            out[row[1]] = {"id": row[0], **dict(zip(fields, row[2:], strict=True))}
    return out


def _plain(value: Any) -> Any:
    """A value as the audit record's JSON keeps it."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b


def upsert(model, key: str, rows: list[dict], fields: Sequence[str], found: dict[str, dict],
           extra: dict | None = None) -> Written:
    """Insert the rows whose key is not in `found`, correct the changed ones (one statement per chunk each)."""
    out = Written()
    now, author = utcnow(), current_actor().user_id
    fresh, changed = [], []
    for row in rows:
        ident = row[key]
        old = found.get(ident)
        values = {f: row.get(f) for f in fields}
        if old is None:
            fresh.append({key: ident, **values, **(extra or {}), "created_at": now, "updated_at": now,
                          "created_by_id": author})
            out.created.append(ident)
            continue
        diff = {f: [_plain(old[f]), _plain(values[f])] for f in fields if not _same(old[f], values[f])}
        if diff:
            changed.append({"id": old["id"], **values, **(extra or {}), "updated_at": now})
            out.updated.append(ident)
            out.changes[ident] = diff
        else:
            out.unchanged.append(ident)
    for start in range(0, len(fresh), CHUNK):
        db.session.execute(model.__table__.insert(), fresh[start:start + CHUNK])  # Core: no ORM bookkeeping
    if changed:
        db.session.execute(update(model), changed)
    return out
