"""``quality_outcome_months`` (operations and operations with an event per month, department, technology, grade
and kind), ``quality_surgeon_outcome_months`` and ``quality_grade_outcome_months`` (the same per month, department
and surgeon or grade), kept current by every surgery and event write.

An operation's contribution depends on the operation and on the events matched to it, so each write takes the
contribution of the operations it may change before (``Change(where)``), writes, and adds the difference
(``Change.apply``), in its transaction under ``quality.summary.lock()``. Invariant: each summary row holds the
counts of ``grouped()`` over the operations of its key, and a key without operations has no row. ``rebuild``
recomputes it (``cli.py rebuild-summaries``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import and_, case, delete, func, insert, select

from portal.extensions import db

from ..models import OUTCOME_MEASURES, GradeOutcomeMonth, OutcomeMonth, QualityEvent, SurgeonOutcomeMonth, Surgery
from ..models.choices import REOP_31D, REOP_48H
from ..reports import technologies
from ..reports.summary import _month_key
from ..summary import _chunks, _insert

# The two summaries and their keys (a prefix of FULL, which is what a write's change is counted by).
TABLES = {OutcomeMonth: ("month", "department_id", "technology_id", "grade", "kind"),
          SurgeonOutcomeMonth: ("month", "department_id", "surgeon_id"),
          GradeOutcomeMonth: ("month", "department_id", "grade")}
KEYS = TABLES[OutcomeMonth]
FULL = ("month", "department_id", "surgeon_id", "technology_id", "grade", "kind")
# event measure -> the condition on a matched event for the operation to count in it
EVENT_FLAGS = {
    "complication": QualityEvent.kind == "complication",
    "reoperation": QualityEvent.kind == "reoperation",
    "reop48": and_(QualityEvent.kind == "reoperation", QualityEvent.interval_hours <= REOP_48H),
    "reop31": and_(QualityEvent.kind == "reoperation", QualityEvent.interval_hours <= REOP_31D),
    "infection": QualityEvent.kind == "infection",
    "ssi": QualityEvent.kind == "ssi",
}
assert ("cases", *EVENT_FLAGS) == OUTCOME_MEASURES


def _key_columns(names: Sequence[str]) -> list:
    return [_month_key().label("month") if name == "month" else getattr(Surgery, name) for name in names]


def grouped(where: Sequence = (), keys: Sequence | None = None):
    """The operations matching `where` counted by `keys` (columns; default: ``quality_outcome_months``' key): one
    row an operation first (its events joined by the events' surgery index), then counted by the key."""
    keys = _key_columns(KEYS) if keys is None else list(keys)
    names = [getattr(key, "key", None) or f"key{i}" for i, key in enumerate(keys)]
    matched = and_(QualityEvent.surgery_id == Surgery.id, QualityEvent.status == "matched")
    operations = (select(Surgery.id, *(key.label(f"key{i}") for i, key in enumerate(keys)),
                         *(func.max(case((cond, 1), else_=0)).label(name) for name, cond in EVENT_FLAGS.items()))
                  .select_from(Surgery).outerjoin(QualityEvent, matched).where(*where)
                  .group_by(Surgery.id, *keys).subquery("operations"))
    by = [operations.c[f"key{i}"] for i in range(len(keys))]
    return (select(*(c.label(name) for c, name in zip(by, names, strict=True)), func.count().label("cases"),
                   *(func.sum(operations.c[name]).label(name) for name in EVENT_FLAGS))
            .group_by(*by))


def counts(where: Sequence = (), names: Sequence[str] = KEYS) -> dict[tuple, list[int]]:
    """{key: counts} of the operations matching `where`, by the key `names` (what a summary must hold)."""
    n = len(OUTCOME_MEASURES)
    return {(date.fromisoformat(str(r[0])[:10]), *r[1:-n]): [int(v) for v in r[-n:]]
            for r in db.session.execute(grouped(where, _key_columns(names)))}


def _add(model, names: Sequence[str], deltas: dict[tuple, list[int]]) -> None:
    """Add the changes to one summary; a row left without operations goes (so the capability report's distinct
    counts read the primary key alone)."""
    rows = [{**dict(zip(names, key, strict=True)), **dict(zip(OUTCOME_MEASURES, values, strict=True))}
            for key, values in deltas.items() if any(values)]
    table = model.__table__
    if rows:
        # Many parameter sets for one statement compiled once (rows spelled into the text cost seconds to compile).
        stmt = _insert(table)
        added = {name: table.c[name] + stmt.excluded[name] for name in OUTCOME_MEASURES}
        db.session.execute(stmt.on_conflict_do_update(index_elements=list(names), set_=added), rows)
    emptied = sorted({key[0] for key, values in deltas.items() if values[0] < 0})
    for chunk in _chunks(emptied):
        db.session.execute(delete(model).where(model.month.in_(chunk), model.cases <= 0))


def add_counts(deltas: dict[tuple, list[int]]) -> None:
    """Add changes counted by FULL to every summary."""
    for model, names in TABLES.items():
        positions = [FULL.index(name) for name in names]
        projected: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(OUTCOME_MEASURES))
        for key, values in deltas.items():
            part = tuple(key[i] for i in positions)
            projected[part] = [a + b for a, b in zip(projected[part], values, strict=True)]
        _add(model, names, projected)


class Change:
    """The operations a write may change, by condition chunks: their contribution before, the difference after."""

    def __init__(self, conditions: Iterable[Sequence]):
        self.conditions = [tuple(c) for c in conditions]
        self.before = [counts(c, FULL) for c in self.conditions]

    def apply(self) -> None:
        db.session.flush()
        deltas: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(OUTCOME_MEASURES))
        for condition, before in zip(self.conditions, self.before, strict=True):
            for sign, found in ((-1, before), (1, counts(condition, FULL))):
                for key, values in found.items():
                    deltas[key] = [a + sign * b for a, b in zip(deltas[key], values, strict=True)]
        add_counts(deltas)
        technologies.apply(deltas)


def by_record_ids(record_ids: Iterable[str]) -> Change:
    ids = sorted({r for r in record_ids if r})
    return Change([(Surgery.record_id.in_(chunk),) for chunk in _chunks(ids)])


def by_ids(surgery_ids: Iterable[int | None]) -> Change:
    ids = sorted({i for i in surgery_ids if i})
    return Change([(Surgery.id.in_(chunk),) for chunk in _chunks(ids)])


def rebuild(month: date | None = None) -> int:
    """Recompute the summaries from the records (one month, or all). Returns the summary rows written."""
    where = []
    if month is not None:
        first = month.replace(day=1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        where = [Surgery.operation_date >= first, Surgery.operation_date < after]
    written = 0
    for model, names in TABLES.items():
        db.session.execute(delete(model).where(model.month == first) if month is not None else delete(model))
        # Set-based (the bench generator fills five years with it too).
        stmt = insert(model).from_select([*names, *OUTCOME_MEASURES], grouped(where, _key_columns(names)))
        written += db.session.execute(stmt).rowcount
    return written
