"""A surgeon's outcomes over a period, per technology and per grade, with the department's and the hospital's
rates for the same technology or grade. The surgeon's operations are read from the records; the department's and
the hospital's from the monthly summaries ``quality_outcome_months`` (by technology) and
``quality_grade_outcome_months`` (by grade), less the raw operations of their first and last month that fall
outside the period, so the cost does not grow with the hospital's operations.

A rate is surgeries with at least one event of the kind / cases. A rate is flagged when it is above FACTOR times
the department's rate and the surgeon has at least MIN_EVENTS such surgeries (``QUALITY_OUTCOME_FACTOR``,
``QUALITY_OUTCOME_MIN_EVENTS`` in the configuration; 2 and 3 by default).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import func, select

from portal.auth.models import Staff
from portal.catalogue.models import GRADES
from portal.extensions import db

from ..models import EVENT_KINDS, GradeOutcomeMonth, OutcomeMonth, Surgery
from . import summary as outcome_months

KINDS = tuple(EVENT_KINDS)


@dataclass
class Rate:
    events: int
    cases: int

    @property
    def value(self) -> float:
        return self.events / self.cases if self.cases else 0.0

    @property
    def percent(self) -> str:
        return f"{self.value * 100:.1f}%" if self.cases else "—"


@dataclass
class Row:
    label: str
    cases: int
    mine: dict[str, Rate] = field(default_factory=dict)
    department: dict[str, Rate] = field(default_factory=dict)
    hospital: dict[str, Rate] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


@dataclass
class Outcomes:
    start: date
    end: date
    by_technology: list[Row]
    by_grade: list[Row]
    factor: float
    min_events: int

    @property
    def rule(self) -> str:
        return (f"本人某项发生率高于本科室同一技术（或级别）发生率的 {self.factor:g} 倍，且本人该项至少 "
                f"{self.min_events} 例时标红，请医务科在再授权前复核。")

    def technologies_shown(self, top: int = 10) -> list[Row]:
        """The `top` technologies by cases, and every flagged one."""
        return [r for i, r in enumerate(self.by_technology) if i < top or r.flags]

    @property
    def flagged(self) -> bool:
        return any(r.flags for r in (*self.by_technology, *self.by_grade))




def generation() -> int:
    """The quality generation (moved by every write to operations, events and the outcome summaries): what a
    worker keeps of outcomes is valid while it is unchanged. Read once a GET request, else at each call."""

    from portal.core.workercache import generation_row

    return generation_row("quality", "quality_generation")


def rule() -> tuple[float, int]:
    return (float(current_app.config.get("QUALITY_OUTCOME_FACTOR", 2)),
            int(current_app.config.get("QUALITY_OUTCOME_MIN_EVENTS", 3)))


OUTCOME_KINDS = {"complication": "complication", "reoperation": "reoperation", "infection": "infection",
                 "ssi": "ssi"}  # event kind -> its measure in the summary
assert set(OUTCOME_KINDS) == set(KINDS)


def _month_after(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _measures(values) -> tuple[int, dict[str, int]]:
    cases, *rest = (int(v or 0) for v in values)
    return cases, dict(zip(KINDS, rest, strict=True))


def _columns(table):
    return [func.sum(table.cases), *(func.sum(getattr(table, OUTCOME_KINDS[k])) for k in KINDS)]


def _split(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date, int]]]:
    """The period as summary months (first, last month; None: none) and raw day ranges to add (+1) or take away
    (-1): a partial first or last month is its summary month less the days outside the period, or the days inside
    it read raw, whichever reads fewer days."""
    day = timedelta(days=1)
    first, last = start.replace(day=1), end.replace(day=1)
    first_end, last_end = _month_after(first) - day, _month_after(last) - day
    if first == last:
        inside, outside = (end - start).days + 1, (last_end - first).days + 1 - ((end - start).days + 1)
        if inside <= outside:
            return None, [(start, end, 1)]
        return (first, last), [(first, start - day, -1), (end + day, last_end, -1)]
    raw = []
    if start > first:
        if (first_end - start).days + 1 <= (start - first).days:
            raw.append((start, first_end, 1))
            first = _month_after(first)
        else:
            raw.append((first, start - day, -1))
    if end < last_end:
        if (end - last).days + 1 <= (last_end - end).days:
            raw.append((last, end, 1))
            last = (last - day).replace(day=1)
        else:
            raw.append((end + day, last_end, -1))
    return ((first, last) if first <= last else None), raw


def _compared(key: str, keys: list, department_id: int, start: date, end: date) -> dict[tuple, list[int]]:
    """{(key value, in the department): [cases, events of each kind]} over [start, end] for these key values: the
    summary's whole months, with the partial first and last month corrected from the records (``_split``)."""
    months, days = _split(start, end)
    out: dict[tuple, list[int]] = {}
    if months is not None:
        table = GradeOutcomeMonth if key == "grade" else OutcomeMonth
        in_dept = table.department_id == department_id
        column = getattr(table, key)
        stmt = (select(column, in_dept, *_columns(table))
                .where(table.month.between(*months), column.in_(keys)).group_by(column, in_dept))
        for row in db.session.execute(stmt):
            out[(row[0], bool(row[1]))] = [int(v or 0) for v in row[2:]]
    raw = getattr(Surgery, key)
    for low, high, sign in days:
        if low > high:
            continue
        dept = Surgery.department_id == department_id
        where = (Surgery.operation_date.between(low, high), raw.in_(keys))
        for row in db.session.execute(outcome_months.grouped(where, keys=[raw, dept])):
            counted = out.setdefault((row[0], bool(row[1])), [0] * (1 + len(KINDS)))
            values = [row.cases, *(getattr(row, OUTCOME_KINDS[k]) for k in KINDS)]
            for i, value in enumerate(values):
                counted[i] += sign * int(value or 0)
    return out


def _grouped(key: str, mine: list, department_id: int, start: date, end: date) -> list[SimpleNamespace]:
    """Per value of `key` the surgeon operated with: the surgeon's, the department's (with the surgeon's own
    operations in other departments) and the hospital's cases and operations with each kind of event."""
    own: dict = defaultdict(lambda: [0] * (1 + len(KINDS)))
    elsewhere: dict = defaultdict(lambda: [0] * (1 + len(KINDS)))
    for row in mine:
        values = [row.cases, *(getattr(row, OUTCOME_KINDS[k]) for k in KINDS)]
        for target in (own, elsewhere) if row.department_id != department_id else (own,):
            target[getattr(row, key)] = [a + int(b or 0) for a, b in zip(target[getattr(row, key)], values,
                                                                         strict=True)]
    compared = _compared(key, sorted(own), department_id, start, end) if own else {}
    out = []
    for value, counts in own.items():
        inside = compared.get((value, True), [0] * (1 + len(KINDS)))
        outside = compared.get((value, False), [0] * (1 + len(KINDS)))
        everyone = [a + b for a, b in zip(inside, outside, strict=True)]
        dept = [a + b for a, b in zip(inside, elsewhere.get(value, [0] * (1 + len(KINDS))), strict=True)]
        row = SimpleNamespace(key=value, my_cases=counts[0], dept_cases=dept[0], all_cases=everyone[0])
        for i, k in enumerate(KINDS, start=1):
            setattr(row, f"my_{k}", counts[i])
            setattr(row, f"dept_{k}", dept[i])
            setattr(row, f"all_{k}", everyone[i])
        out.append(row)
    return out


def _rows(results, label, factor: float, min_events: int) -> list[Row]:
    out = []
    for r in results:
        row = Row(label(r.key), int(r.my_cases or 0))
        for k in KINDS:
            row.mine[k] = Rate(int(getattr(r, f"my_{k}") or 0), int(r.my_cases or 0))
            row.department[k] = Rate(int(getattr(r, f"dept_{k}") or 0), int(r.dept_cases or 0))
            row.hospital[k] = Rate(int(getattr(r, f"all_{k}") or 0), int(r.all_cases or 0))
            if row.mine[k].events >= min_events and row.mine[k].value > factor * row.department[k].value:
                row.flags.add(k)
        out.append(row)
    return sorted(out, key=lambda r: (-r.cases, r.label))


def surgeon_outcomes(staff_id: int, start: date, end: date) -> Outcomes:
    """Cases, complications, unplanned reoperations, infections and SSI of one surgeon over [start, end]."""
    from portal.catalogue.models import Technology

    factor, min_events = rule()
    department_id = db.session.scalar(select(Staff.department_id).where(Staff.id == staff_id)) or 0
    # The surgeon's own operations from the records (the surgeon's index); the department's and the hospital's
    # from the monthly summary.
    where = (Surgery.surgeon_id == staff_id, Surgery.operation_date.between(start, end))
    mine = db.session.execute(outcome_months.grouped(
        where, keys=[Surgery.department_id, Surgery.technology_id, Surgery.grade])).all()
    names = {}
    tech_rows = _grouped("technology_id", mine, department_id, start, end)
    if tech_rows:
        names = dict(db.session.execute(select(Technology.id, Technology.name)
                                        .where(Technology.id.in_([r.key for r in tech_rows]))).all())
    grade_rows = _grouped("grade", mine, department_id, start, end)
    return Outcomes(start, end, _rows(tech_rows, lambda k: names.get(k, str(k)), factor, min_events),
                    _rows(grade_rows, lambda k: GRADES.get(k, f"{k} 级"), factor, min_events), factor, min_events)
