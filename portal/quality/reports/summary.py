"""The surgery reports' monthly summary (``quality_surgery_months``), kept current by every surgery write.

The surgery writes (``surgeries.services.save_surgeries`` and ``delete_period``) call ``add`` in their
transaction, under ``quality.summary.lock()``: minus one for each surgery's key as it was, plus one as it became.
Invariant: each summary row counts the surgeries of its key. ``rebuild`` recomputes it from the records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy import Date, delete, func, select

from portal.extensions import db

from ..models import Surgery, SurgeryMonth
from ..summary import _chunks, _insert

KEYS = ("month", "department_id", "surgeon_id", "grade", "kind", "minimally_invasive", "urgency", "day_surgery")


def key_of(row: Mapping) -> tuple:
    """A surgery's summary key from its stored values (a dict of Surgery fields)."""
    return (row["operation_date"].replace(day=1), int(row["department_id"]), int(row["surgeon_id"]),
            int(row["grade"]), row["kind"], bool(row["minimally_invasive"]), row["urgency"],
            bool(row["day_surgery"]))


def add(gone: Iterable[Mapping] = (), came: Iterable[Mapping] = ()) -> None:
    """Take the surgeries `gone` (as they were) out of the summary and add those that `came` (as they are)."""
    deltas: Counter = Counter()
    for row in gone:
        deltas[key_of(row)] -= 1
    for row in came:
        deltas[key_of(row)] += 1
    add_counts(deltas)


def add_counts(deltas: Mapping[tuple, int]) -> None:
    rows = [{**dict(zip(KEYS, key, strict=True)), "surgeries": n} for key, n in deltas.items() if n]
    if not rows:
        return
    for chunk in _chunks(rows):
        stmt = _insert(SurgeryMonth).values(chunk)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=list(KEYS), set_={"surgeries": SurgeryMonth.__table__.c.surgeries
                                              + stmt.excluded.surgeries}))


def _month_key():
    """The first of the operation's month, as a date, on either back end."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("month", Surgery.operation_date).cast(Date)
    return func.date(Surgery.operation_date, "start of month")


def grouped(where=()):
    """The raw surgeries counted by the summary's key (what the summary must equal)."""
    month = _month_key().label("month")
    cols = [getattr(Surgery, k) for k in KEYS[1:]]
    return (select(month, *cols, func.count(Surgery.id).label("surgeries"))
            .where(*where).group_by(month, *cols))


def rebuild(month: date | None = None) -> int:
    """Recompute the summary from the surgeries (one month, or all). Returns the summary rows written."""
    where = []
    if month is not None:
        first = month.replace(day=1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        where = [Surgery.operation_date >= first, Surgery.operation_date < after]
        db.session.execute(delete(SurgeryMonth).where(SurgeryMonth.month == first))
    else:
        db.session.execute(delete(SurgeryMonth))
    counts = {}
    for row in db.session.execute(grouped(where)):
        counts[(date.fromisoformat(str(row[0])[:10]), *row[1:-1])] = row[-1]
    add_counts(counts)
    return len(counts)


def rebuild_all(month: date | None = None) -> int:
    """The domain's summaries: the indicators' ``quality_months`` and this one (``cli.py rebuild-summaries``)."""
    from .. import summary

    return summary.rebuild(month) + rebuild(month)
