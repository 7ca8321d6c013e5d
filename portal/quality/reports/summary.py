"""The surgery reports' monthly summaries (``quality_surgery_months`` per department, ``quality_surgeon_months``
per surgeon), kept current by every surgery write.

The surgery writes (``surgeries.services.save_surgeries`` and ``delete_period``) call ``add`` / ``remove_period``
in their transaction, under ``quality.summary.lock()``: each surgery as it was is taken out, as it became is
added. Invariant: each summary row holds the counts of the surgeries of its month, department (and surgeon).
``rebuild`` recomputes both from the records (``cli.py rebuild-summaries``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy import Date, case, delete, func, select

from portal.extensions import db

from ..models import SURGERY_MEASURES, SurgeonMonth, Surgery, SurgeryMonth
from ..summary import _insert

# measure -> the condition an operation meets to count in it (None: every operation), on Surgery's columns
CONDITIONS = {
    "surgeries": None,
    "grade1": lambda t: t.grade == 1, "grade2": lambda t: t.grade == 2,
    "grade3": lambda t: t.grade == 3, "grade4": lambda t: t.grade == 4,
    "surgery": lambda t: t.kind == "surgery", "interventional": lambda t: t.kind == "interventional",
    "mi": lambda t: t.minimally_invasive.is_(True),
    "emergency": lambda t: t.urgency == "emergency", "elective": lambda t: t.urgency == "elective",
    "limited": lambda t: t.urgency == "limited", "day": lambda t: t.day_surgery.is_(True),
}
assert tuple(CONDITIONS) == SURGERY_MEASURES


def vector(row: Mapping) -> tuple[int, ...]:
    """What one surgery (its stored values) adds to each measure: the Python twin of CONDITIONS."""
    grade, kind, urgency = int(row["grade"]), row["kind"], row["urgency"]
    return (1, int(grade == 1), int(grade == 2), int(grade == 3), int(grade == 4), int(kind == "surgery"),
            int(kind == "interventional"), int(bool(row["minimally_invasive"])), int(urgency == "emergency"),
            int(urgency == "elective"), int(urgency == "limited"), int(bool(row["day_surgery"])))


def _keys(row: Mapping) -> tuple[tuple, tuple]:
    month = row["operation_date"].replace(day=1)
    return (month, int(row["department_id"])), (month, int(row["department_id"]), int(row["surgeon_id"]))


def add(gone: Iterable[Mapping] = (), came: Iterable[Mapping] = ()) -> None:
    """Take the surgeries `gone` (as they were) out of the summaries and add those that `came` (as they are)."""
    departments: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(SURGERY_MEASURES))
    surgeons: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(SURGERY_MEASURES))
    for sign, rows in ((-1, gone), (1, came)):
        for row in rows:
            dept_key, surgeon_key = _keys(row)
            for i, value in enumerate(vector(row)):
                departments[dept_key][i] += sign * value
                surgeons[surgeon_key][i] += sign * value
    add_counts(SurgeryMonth, departments)
    add_counts(SurgeonMonth, surgeons)


def add_counts(model, deltas: Mapping[tuple, Iterable[int]]) -> None:
    keys = [c.name for c in model.__table__.primary_key.columns]
    rows = [{**dict(zip(keys, key, strict=True)), **dict(zip(SURGERY_MEASURES, values, strict=True))}
            for key, values in deltas.items() if any(values)]
    table = model.__table__
    if rows:
        # Many parameter sets for one statement compiled once (rows spelled into the text cost seconds to compile).
        stmt = _insert(table)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=keys, set_={name: table.c[name] + stmt.excluded[name] for name in SURGERY_MEASURES}), rows)


def _month_key():
    """The first of the operation's month, as a date, on either back end."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("month", Surgery.operation_date).cast(Date)
    return func.date(Surgery.operation_date, "start of month")


def grouped(model, where=()):
    """The raw surgeries counted by `model`'s key (what that summary must equal)."""
    month = _month_key().label("month")
    keys = [getattr(Surgery, c.name) for c in model.__table__.primary_key.columns if c.name != "month"]
    measures = [(func.count(Surgery.id) if cond is None else func.sum(case((cond(Surgery), 1), else_=0))).label(key)
                for key, cond in CONDITIONS.items()]
    return select(month, *keys, *measures).where(*where).group_by(month, *keys)


def counts(model, where=()) -> dict[tuple, tuple[int, ...]]:
    n = len(SURGERY_MEASURES)
    return {(date.fromisoformat(str(r[0])[:10]), *r[1:-n]): tuple(int(v) for v in r[-n:])
            for r in db.session.execute(grouped(model, where))}


def remove(where) -> None:
    """Take the surgeries matching `where` out of both summaries (before they are deleted)."""
    for model in (SurgeryMonth, SurgeonMonth):
        add_counts(model, {key: [-v for v in values] for key, values in counts(model, where).items()})


def rebuild(month: date | None = None) -> int:
    """Recompute both summaries from the surgeries (one month, or all). Returns the summary rows written."""
    where = []
    written = 0
    for model in (SurgeryMonth, SurgeonMonth):
        if month is not None:
            first = month.replace(day=1)
            after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            where = [Surgery.operation_date >= first, Surgery.operation_date < after]
            db.session.execute(delete(model).where(model.month == first))
        else:
            db.session.execute(delete(model))
        found = counts(model, where)
        add_counts(model, found)
        written += len(found)
    return written


def rebuild_all(month: date | None = None) -> int:
    """The domain's summaries: the indicators' ``quality_months``, these, the outcomes' and the surgeons'
    technologies (``cli.py rebuild-summaries``)."""
    from .. import summary
    from ..outcomes import summary as outcome_months
    from . import technologies

    return summary.rebuild(month) + rebuild(month) + outcome_months.rebuild(month) + technologies.rebuild(month)
