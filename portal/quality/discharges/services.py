"""Discharges written by the import and the push: by record id, the summary kept current in the same transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, func, select

from portal.extensions import db

from .. import records, summary
from ..models import Discharge

FIELDS = ("mrn", "admission_no", "patient_pseudonym", "department_id", "admission_date", "discharge_date",
          "discharge_mode", "day_surgery")


def clean(values: dict) -> dict:
    """Blank optional cells as stored."""
    return {**values, "admission_no": values.get("admission_no") or 1,
            "patient_pseudonym": values.get("patient_pseudonym") or "", "day_surgery": bool(values.get("day_surgery"))}


def save_discharges(rows: list[dict], source: str) -> records.Written:
    """Create or correct discharges by record id; their flags and the monthly summary follow."""
    summary.lock()
    ids = [r["record_id"] for r in rows]
    found = records.existing_rows(Discharge, "record_id", ids, FIELDS)
    before = summary.snapshot(ids)
    written = records.upsert(Discharge, "record_id", [clean(r) for r in rows], FIELDS, found, {"source": source})
    summary.refresh(written.created + written.updated, {k: v for k, v in before.items()
                                                         if k in set(written.updated)})
    return written


def _in_period(start: date, end: date):
    return Discharge.discharge_date.between(start, end)


def count_period(start: date, end: date) -> int:
    return db.session.scalar(select(func.count()).select_from(Discharge).where(_in_period(start, end)))


def delete_period(start: date, end: date) -> int:
    """Replace the period: the discharges discharged in it go (their surgeries stay), and leave the summary."""
    summary.lock()
    ids = list(db.session.scalars(select(Discharge.record_id).where(_in_period(start, end))))
    before = summary.snapshot(ids)
    deleted = db.session.execute(delete(Discharge).where(_in_period(start, end))).rowcount
    summary.refresh([], before)
    return deleted
