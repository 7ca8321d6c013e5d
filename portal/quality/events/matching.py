"""Linking an event to its surgery: by surgery record id, else by 病案号 + operation date (the day's first
operation). Unmatched events wait; surgeries written later match them (`match_waiting`)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import or_, select, tuple_, update

from portal.extensions import db

from ..models import QualityEvent, Surgery

CHUNK = 500


def interval_hours(surgery_end: datetime | None, surgery_start: datetime, reoperated_at: datetime | None
                   ) -> Decimal | None:
    """Hours from the end of the first operation (its start when the end is unknown) to the reoperation."""
    if reoperated_at is None:
        return None
    hours = Decimal((reoperated_at - (surgery_end or surgery_start)).total_seconds()) / 3600
    return hours.quantize(Decimal("0.1"), ROUND_HALF_UP)


def surgeries_for(events: list[dict]) -> tuple[dict, dict]:
    """The surgeries the events may name: ({record id: row}, {(病案号, date): first row of the day})."""
    by_id, by_day = {}, {}
    ids = sorted({e["surgery_record_id"] for e in events if e.get("surgery_record_id")})
    pairs = sorted({(e["mrn"], e["operation_date"]) for e in events if e.get("mrn") and e.get("operation_date")})
    columns = (Surgery.id, Surgery.record_id, Surgery.mrn, Surgery.operation_date, Surgery.started_at,
               Surgery.ended_at)
    for start in range(0, len(ids), CHUNK):
        for row in db.session.execute(select(*columns).where(Surgery.record_id.in_(ids[start:start + CHUNK]))):
            by_id[row.record_id] = row
    for start in range(0, len(pairs), CHUNK):
        stmt = (select(*columns).where(tuple_(Surgery.mrn, Surgery.operation_date).in_(pairs[start:start + CHUNK]))
                .order_by(Surgery.started_at, Surgery.id))
        for row in db.session.execute(stmt):
            by_day.setdefault((row.mrn, row.operation_date), row)
    return by_id, by_day


def link(values: dict, by_id: dict, by_day: dict) -> dict:
    """The event's match columns: surgery, status and (reoperations) the interval."""
    surgery = by_id.get(values.get("surgery_record_id") or "") or by_day.get(
        (values.get("mrn") or "", values.get("operation_date")))
    if surgery is None:
        interval = values.get("interval_hours")
        return {"surgery_id": None, "status": "unmatched",
                "interval_hours": Decimal(str(interval)) if interval is not None else None}
    interval = interval_hours(surgery.ended_at, surgery.started_at, values.get("reoperated_at"))
    if interval is None and values.get("interval_hours") is not None:
        interval = Decimal(str(values["interval_hours"]))
    return {"surgery_id": surgery.id, "status": "matched", "interval_hours": interval}


def match_waiting(surgeries: list[dict]) -> int:
    """Unmatched events that name one of these surgeries (by record id, or 病案号 + date) are linked to it."""
    if not surgeries:
        return 0
    ids = sorted({s["record_id"] for s in surgeries})
    pairs = sorted({(s["mrn"], s["operation_date"]) for s in surgeries})
    waiting = []
    for start in range(0, max(len(ids), len(pairs)), CHUNK):
        stmt = select(QualityEvent.id, QualityEvent.surgery_record_id, QualityEvent.mrn, QualityEvent.operation_date,
                      QualityEvent.reoperated_at, QualityEvent.interval_hours).where(
            QualityEvent.status == "unmatched",
            or_(QualityEvent.surgery_record_id.in_(ids[start:start + CHUNK]),
                tuple_(QualityEvent.mrn, QualityEvent.operation_date).in_(pairs[start:start + CHUNK])))
        waiting.extend(db.session.execute(stmt).mappings().all())
    if not waiting:
        return 0
    by_id, by_day = surgeries_for([dict(w) for w in waiting])
    changes = []
    for event in waiting:
        linked = link(dict(event), by_id, by_day)
        if linked["surgery_id"] is not None:
            changes.append({"id": event["id"], **linked})
    if changes:
        db.session.execute(update(QualityEvent), changes)
    return len(changes)


def recompute_intervals(surgery_record_ids: list[str]) -> None:
    """A corrected surgery's times move the intervals of the reoperations linked to it."""
    if not surgery_record_ids:
        return
    stmt = (select(QualityEvent.id, QualityEvent.reoperated_at, Surgery.started_at, Surgery.ended_at)
            .join(Surgery, Surgery.id == QualityEvent.surgery_id)
            .where(Surgery.record_id.in_(surgery_record_ids[:CHUNK * 20]), QualityEvent.reoperated_at.is_not(None)))
    changes = [{"id": row.id, "interval_hours": interval_hours(row.ended_at, row.started_at, row.reoperated_at)}
               for row in db.session.execute(stmt)]
    if changes:
        db.session.execute(update(QualityEvent), changes)
