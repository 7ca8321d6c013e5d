"""The indicator flags of each discharge and the monthly summary, kept current by every write.

Every write path (Excel import, HIS push, replace-the-period, event matching) does:

    before = summary.snapshot(record_ids)   # the discharges' contributions as counted now
    ... write discharges / surgeries / events ...
    summary.refresh(record_ids, before)     # derive the flags again, add the difference to quality_months

in one transaction, after ``summary.lock()`` (PostgreSQL: an advisory lock, so two pushes at once cannot both
count the same change; SQLite writes are serialised already). Invariant: ``quality_months`` is the sum over
discharges of their contribution (one person, plus one per flag), 家庭病床撤床 contributing nothing.
``rebuild`` recomputes the flags and the summary from the records (``cli.py rebuild-summaries``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.extensions import db

from .models import COUNTED_KINDS, EXCLUDED_MODE, FLAGS, Discharge, QualityEvent, QualityMonth, Surgery
from .models.choices import REOP_31D, REOP_48H

COUNTS = ("discharges", *FLAGS)
CHUNK = 2000
LOCK_KEY = 720_1201  # pg_advisory_xact_lock key of the quality writes
ZERO = (False,) * len(FLAGS)


def lock() -> None:
    """Serialise the quality writes of concurrent transactions (held until commit)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def _chunks(values: list, size: int = CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def vector(mode: str, flags: Iterable[bool]) -> tuple[int, ...]:
    if mode == EXCLUDED_MODE:
        return (0,) * len(COUNTS)
    return (1, *(int(bool(f)) for f in flags))


def snapshot(record_ids: Iterable[str]) -> dict[str, tuple[tuple[date, int], tuple[int, ...]]]:
    """What the discharges with these record ids contribute to the summary now: {record id: (key, counts)}."""
    out = {}
    ids = sorted({r for r in record_ids if r})
    for chunk in _chunks(ids):
        stmt = select(Discharge.record_id, Discharge.discharge_date, Discharge.department_id,
                      Discharge.discharge_mode, *(getattr(Discharge, f) for f in FLAGS)).where(
            Discharge.record_id.in_(chunk))
        for row in db.session.execute(stmt):
            out[row[0]] = ((row[1].replace(day=1), row[2]), vector(row[3], row[4:]))
    return out


def _flag(condition):
    return func.max(case((condition, 1), else_=0))


def derive(record_ids: list[str]) -> dict[str, tuple[bool, ...]]:
    """The flags of these discharges from their surgeries and the events matched to them (two queries a chunk)."""
    out: dict[str, list[bool]] = {}
    counted = Surgery.kind.in_(COUNTED_KINDS)
    for chunk in _chunks(sorted(set(record_ids))):
        days = dict(db.session.execute(select(Discharge.record_id, Discharge.day_surgery)
                                       .where(Discharge.record_id.in_(chunk))).all())
        ops = (select(Surgery.discharge_record_id, _flag(counted),
                      _flag(and_(counted, Surgery.minimally_invasive)),
                      _flag(and_(counted, or_(Surgery.grade == 4, Surgery.perf_grade4))),
                      _flag(and_(counted, Surgery.urgency == "elective")),
                      _flag(and_(counted, Surgery.urgency == "elective", Surgery.day_surgery)),
                      _flag(and_(counted, Surgery.incision == "I")),
                      _flag(and_(counted, Surgery.incision == "I", Surgery.healing == "C")))
               .where(Surgery.discharge_record_id.in_(chunk)).group_by(Surgery.discharge_record_id))
        events = (select(Surgery.discharge_record_id,
                         _flag(and_(QualityEvent.kind == "reoperation", QualityEvent.interval_hours <= REOP_48H)),
                         _flag(and_(QualityEvent.kind == "reoperation", QualityEvent.interval_hours <= REOP_31D)),
                         _flag(QualityEvent.kind == "complication"))
                  .join(Surgery, Surgery.id == QualityEvent.surgery_id)
                  .where(Surgery.discharge_record_id.in_(chunk), QualityEvent.status == "matched", counted)
                  .group_by(Surgery.discharge_record_id))
        found_events = {row[0]: row[1:] for row in db.session.execute(events)}
        for rid, surgical, mi, grade4, elective, day_elective, class1, infected in db.session.execute(ops):
            if rid not in days:
                continue
            reop48, reop31, complication = found_events.get(rid, (0, 0, 0))
            day = bool(elective) and (bool(day_elective) or bool(days[rid]))
            out[rid] = [bool(surgical), bool(mi), bool(grade4), bool(elective), day, bool(reop48), bool(reop31),
                        bool(complication), bool(class1), bool(infected)]
    return {rid: tuple(flags) for rid, flags in out.items()}


def _insert(model):
    return (pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)


def _add(deltas: dict[tuple[date, int], list[int]]) -> None:
    rows = [{"month": key[0], "department_id": key[1], **dict(zip(COUNTS, values, strict=True))}
            for key, values in deltas.items() if any(values)]
    if not rows:
        return
    table = QualityMonth.__table__
    for chunk in _chunks(rows):
        stmt = _insert(QualityMonth).values(chunk)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["month", "department_id"],
            set_={name: table.c[name] + stmt.excluded[name] for name in COUNTS}))


def refresh(record_ids: Iterable[str], before: dict) -> int:
    """Derive the flags of these discharges again and add the change of their contributions to the summary.

    `before` is `snapshot` of the same record ids taken before the write (a deleted discharge is in it and
    no longer in the table: its contribution is taken away). Returns the discharges whose flags changed.
    """
    db.session.flush()
    ids = sorted({r for r in record_ids if r} | set(before))
    deltas: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    for key, values in before.values():
        for i, value in enumerate(values):
            deltas[key][i] -= value
    changed = []
    for chunk in _chunks(ids):
        derived = derive(chunk)
        stmt = select(Discharge.id, Discharge.record_id, Discharge.discharge_date, Discharge.department_id,
                      Discharge.discharge_mode, *(getattr(Discharge, f) for f in FLAGS)).where(
            Discharge.record_id.in_(chunk))
        for row in db.session.execute(stmt):
            flags = derived.get(row[1], ZERO)
            if tuple(bool(f) for f in row[5:]) != flags:
                changed.append({"id": row[0], **dict(zip(FLAGS, flags, strict=True))})
            key = (row[2].replace(day=1), row[3])
            for i, value in enumerate(vector(row[4], flags)):
                deltas[key][i] += value
    if changed:
        db.session.execute(update(Discharge), changed)
    _add(deltas)
    return len(changed)


def rebuild(month: date | None = None) -> int:
    """Recompute every discharge's flags and the summary (one month of discharges, or all). Returns summary rows."""
    stmt = select(Discharge.record_id)
    if month is not None:
        first = month.replace(day=1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        stmt = stmt.where(Discharge.discharge_date >= first, Discharge.discharge_date < after)
        db.session.execute(delete(QualityMonth).where(QualityMonth.month == first))
    else:
        db.session.execute(delete(QualityMonth))
    ids = list(db.session.scalars(stmt))
    for chunk in _chunks(ids, 5000):
        refresh(chunk, {})  # nothing counted for them any more: add each one's whole contribution
    where = [QualityMonth.month == month.replace(day=1)] if month else []
    return db.session.scalar(select(func.count()).select_from(QualityMonth).where(*where))
