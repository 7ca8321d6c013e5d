"""Surgeries written by the import and the push: by record id; their discharges' flags, waiting events and the
summary follow in the same transaction."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from portal.core.timeutil import LOCAL_TZ
from portal.extensions import db

from .. import records, summary
from ..events import matching
from ..models import QualityEvent, Surgery
from ..outcomes import summary as outcome_months
from ..reports import summary as surgery_months
from ..violations import detect

FIELDS = ("discharge_record_id", "mrn", "department_id", "surgeon_id", "assistant1_id", "assistant2_id",
          "anaesthetist_id", "anaesthesia_method", "technology_id", "operation_code", "national_code",
          "operation_name", "grade", "perf_grade4", "kind", "minimally_invasive", "incision", "healing", "urgency",
          "operation_date", "started_at", "ended_at", "day_surgery", "planned_surgeon_id")


def local(value: datetime | None) -> datetime | None:
    """A time as HIS and files write it (Beijing time, no zone) as an aware time; aware times stay as they are."""
    if value is None:
        return None
    return value.replace(tzinfo=LOCAL_TZ) if value.tzinfo is None else value


def clean(values: dict[str, Any]) -> dict[str, Any]:
    """A parsed row as stored: blanks filled from the catalogue entry its operation code names."""
    op = values["operation"]
    started = local(values["started_at"])
    grade = values.get("grade") or op.grade
    return {
        "record_id": values["record_id"], "discharge_record_id": values.get("discharge_record_id") or "",
        "mrn": values["mrn"], "department_id": values["department_id"], "surgeon_id": values["surgeon_id"],
        "assistant1_id": values.get("assistant1_id"), "assistant2_id": values.get("assistant2_id"),
        "anaesthetist_id": values.get("anaesthetist_id"), "anaesthesia_method": values.get("anaesthesia_method") or "",
        "technology_id": op.id, "operation_code": op.code, "national_code": op.national_code,
        "operation_name": values.get("operation_name") or op.name, "grade": grade,
        "perf_grade4": bool(op.perf_grade4),
        "kind": values.get("kind") or op.kind,
        "minimally_invasive": op.minimally_invasive if values.get("minimally_invasive") is None
        else values["minimally_invasive"],
        "incision": values.get("incision") or "", "healing": values.get("healing") or "",
        "urgency": values["urgency"], "operation_date": started.astimezone(LOCAL_TZ).date(), "started_at": started,
        "ended_at": local(values.get("ended_at")), "day_surgery": bool(values.get("day_surgery")),
        "planned_surgeon_id": values.get("planned_surgeon_id"),
    }


def check(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Cross-field rules, as (field name, message)."""
    problems = []
    grade = values.get("grade")
    if grade is not None and grade not in (1, 2, 3, 4):
        problems.append(("grade", "手术级别应为 1 至 4"))
    ended = values.get("ended_at")
    if ended is not None and local(ended) < local(values["started_at"]):
        problems.append(("ended_at", "结束时间早于开始时间"))
    return problems


def save_surgeries(rows: list[dict], source: str) -> records.Written:
    """Create or correct surgeries by record id (rows as `clean` gives them)."""
    summary.lock()
    ids = [r["record_id"] for r in rows]
    found = records.existing_rows(Surgery, "record_id", ids, FIELDS)
    discharges = {r["discharge_record_id"] for r in rows} | {f["discharge_record_id"] for f in found.values()}
    before = summary.snapshot(discharges)
    outcomes = outcome_months.by_record_ids(ids)
    written = records.upsert(Surgery, "record_id", rows, FIELDS, found, {"source": source})
    changed = set(written.created) | set(written.updated)
    surgery_months.add(gone=[found[r] for r in written.updated], came=[r for r in rows if r["record_id"] in changed])
    db.session.flush()
    touched = set(written.created) | set(written.updated)
    matching.match_waiting([r for r in rows if r["record_id"] in touched])
    matching.recompute_intervals(written.updated)
    outcomes.apply()
    summary.refresh(discharges, before)
    detect.after_write(touched)
    return written


def _in_period(start: date, end: date):
    return Surgery.operation_date.between(start, end)


def count_period(start: date, end: date) -> int:
    return db.session.scalar(select(func.count()).select_from(Surgery).where(_in_period(start, end)))


def delete_period(start: date, end: date) -> int:
    """Replace the period: its surgeries go; events that named them wait again as unmatched."""
    summary.lock()
    discharges = set(db.session.scalars(select(Surgery.discharge_record_id).where(_in_period(start, end))))
    before = summary.snapshot(discharges)
    outcomes = outcome_months.Change([(_in_period(start, end),)])
    gone = select(Surgery.id).where(_in_period(start, end)).scalar_subquery()
    db.session.execute(update(QualityEvent).where(QualityEvent.surgery_id.in_(gone))
                       .values(surgery_id=None, status="unmatched", interval_hours=None))
    surgery_months.remove([_in_period(start, end)])
    deleted = db.session.execute(delete(Surgery).where(_in_period(start, end))).rowcount
    outcomes.apply()
    summary.refresh(discharges, before)
    return deleted
