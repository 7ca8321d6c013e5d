"""Quality events written by the imports (one type per kind, by date): linked to their surgery or kept unmatched."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, func, select

from portal.core import audit
from portal.core.service import ServiceError
from portal.extensions import db

from .. import records, summary
from ..models import QualityEvent, Surgery
from ..outcomes import summary as outcome_months
from ..surgeries.services import local
from . import matching

FIELDS = ("surgery_record_id", "mrn", "operation_date", "event_date", "name", "ssi_depth", "reoperated_at",
          "note", "surgery_id", "status", "interval_hours")
STORED = ("surgery_id", "status", "interval_hours")


def stable_event_no(kind: str, values: dict) -> str:
    """An event number for a row without one: the same row imported again gets the same number."""
    ref = values.get("surgery_record_id") or f"{values.get('mrn')}@{values.get('operation_date')}"
    raw = f"{kind}|{ref}|{values.get('event_date')}|{values.get('name') or ''}|{values.get('ssi_depth') or ''}"
    return "E" + hashlib.sha1(raw.encode()).hexdigest()[:20].upper()


def discharges_of(surgery_ids) -> set[str]:
    ids = sorted({i for i in surgery_ids if i})
    out = set()
    for start in range(0, len(ids), 500):
        stmt = select(Surgery.discharge_record_id).where(Surgery.id.in_(ids[start:start + 500]))
        out |= set(db.session.scalars(stmt))
    return out


def clean(values: dict) -> dict:
    return {"event_no": values["event_no"], "surgery_record_id": values.get("surgery_record_id") or "",
            "mrn": values.get("mrn") or "", "operation_date": values.get("operation_date"),
            "event_date": values["event_date"], "name": values.get("name") or "",
            "ssi_depth": values.get("ssi_depth") or "", "reoperated_at": local(values.get("reoperated_at")),
            "note": values.get("note") or "", "interval_hours": values.get("interval_hours")}


def save_events(kind: str, rows: list[dict], source: str) -> records.Written:
    """Create or correct events of one kind by event number, each linked to its surgery where it is known."""
    summary.lock()
    rows = [clean(r) for r in rows]
    where = (QualityEvent.kind == kind,)
    found = records.existing_rows(QualityEvent, "event_no", [r["event_no"] for r in rows], FIELDS, where)
    by_id, by_day = matching.surgeries_for(rows)
    for row in rows:
        row.update(matching.link(row, by_id, by_day))
    surgeries = [r["surgery_id"] for r in rows] + [f["surgery_id"] for f in found.values()]
    touched = discharges_of(surgeries)
    before = summary.snapshot(touched)
    outcomes = outcome_months.by_ids(surgeries)
    written = records.upsert(QualityEvent, "event_no", rows, FIELDS, found, {"kind": kind})
    outcomes.apply()
    summary.refresh(touched, before)
    return written


def _in_period(kind: str, start: date, end: date):
    return (QualityEvent.kind == kind, QualityEvent.event_date.between(start, end))


def count_period(kind: str, start: date, end: date) -> int:
    return db.session.scalar(select(func.count()).select_from(QualityEvent).where(*_in_period(kind, start, end)))


def delete_period(kind: str, start: date, end: date) -> int:
    summary.lock()
    surgeries = list(db.session.scalars(select(QualityEvent.surgery_id).where(*_in_period(kind, start, end))))
    touched = discharges_of(surgeries)
    before = summary.snapshot(touched)
    outcomes = outcome_months.by_ids(surgeries)
    deleted = db.session.execute(delete(QualityEvent).where(*_in_period(kind, start, end))).rowcount
    outcomes.apply()
    summary.refresh(touched, before)
    return deleted


def link_event(event: QualityEvent, surgery_record_id: str) -> None:
    """Correct an unmatched event by naming its surgery record id (the unmatched list's correction)."""
    surgery_record_id = "".join((surgery_record_id or "").split())
    if not surgery_record_id:
        raise ServiceError("请填写手术记录号。", field="surgery_record_id")
    summary.lock()
    surgery = db.session.scalar(select(Surgery).where(Surgery.record_id == surgery_record_id))
    if surgery is None:
        raise ServiceError(f"找不到手术记录号“{surgery_record_id[:64]}”。", field="surgery_record_id")
    touched = discharges_of([event.surgery_id, surgery.id])
    before = summary.snapshot(touched)
    outcomes = outcome_months.by_ids([event.surgery_id, surgery.id])
    old = {"surgery_record_id": event.surgery_record_id, "status": event.status}
    interval = matching.interval_hours(surgery.ended_at, surgery.started_at, event.reoperated_at)
    event.surgery_record_id, event.surgery_id, event.status = surgery_record_id, surgery.id, "matched"
    if interval is not None:
        event.interval_hours = interval
    elif event.interval_hours is not None:
        event.interval_hours = Decimal(event.interval_hours)
    db.session.flush()
    outcomes.apply()
    summary.refresh(touched, before)
    audit.record("update", "quality_event", event.id, label=f"{event.kind_label} {event.event_no}",
                 before=old, after={"surgery_record_id": surgery_record_id, "status": "matched"})
