"""A surgeon's outcomes over a period, per technology and per grade, with the department's and the hospital's
rates for the same technology or grade: two grouped queries, whatever the number of surgeries.

A rate is surgeries with at least one event of the kind / cases. A rate is flagged when it is above FACTOR times
the department's rate and the surgeon has at least MIN_EVENTS such surgeries (``QUALITY_OUTCOME_FACTOR``,
``QUALITY_OUTCOME_MIN_EVENTS`` in the configuration; 2 and 3 by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from sqlalchemy import case, func, or_, select

from portal.auth.models import Staff
from portal.catalogue.models import GRADES
from portal.extensions import db

from ..models import EVENT_KINDS, QualityEvent, Surgery

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


def rule() -> tuple[float, int]:
    return (float(current_app.config.get("QUALITY_OUTCOME_FACTOR", 2)),
            int(current_app.config.get("QUALITY_OUTCOME_MIN_EVENTS", 3)))


def _events():
    """Per surgery: 1 if it had an event of each kind."""
    cols = [func.max(case((QualityEvent.kind == k, 1), else_=0)).label(k) for k in KINDS]
    return (select(QualityEvent.surgery_id, *cols).where(QualityEvent.surgery_id.is_not(None))
            .group_by(QualityEvent.surgery_id).subquery("e"))


def _grouped(key, staff_id: int, department_id: int, start: date, end: date):
    e = _events()
    mine = Surgery.surgeon_id == staff_id
    in_dept = or_(Surgery.department_id == department_id, mine)  # the department's cases include the surgeon's
    keys = select(key).where(mine, Surgery.operation_date.between(start, end)).distinct()
    cols = [func.count().label("all_cases"),
            func.sum(case((mine, 1), else_=0)).label("my_cases"),
            func.sum(case((in_dept, 1), else_=0)).label("dept_cases")]
    for k in KINDS:
        flag = func.coalesce(getattr(e.c, k), 0)
        cols += [func.sum(flag).label(f"all_{k}"), func.sum(case((mine, flag), else_=0)).label(f"my_{k}"),
                 func.sum(case((in_dept, flag), else_=0)).label(f"dept_{k}")]
    stmt = (select(key.label("key"), *cols).select_from(Surgery).outerjoin(e, e.c.surgery_id == Surgery.id)
            .where(Surgery.operation_date.between(start, end), key.in_(keys)).group_by(key))
    return db.session.execute(stmt).all()


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
    staff = db.session.get(Staff, staff_id)
    department_id = staff.department_id if staff else 0
    names = {}
    tech_rows = _grouped(Surgery.technology_id, staff_id, department_id, start, end)
    if tech_rows:
        names = dict(db.session.execute(select(Technology.id, Technology.name)
                                        .where(Technology.id.in_([r.key for r in tech_rows]))).all())
    grade_rows = _grouped(Surgery.grade, staff_id, department_id, start, end)
    return Outcomes(start, end, _rows(tech_rows, lambda k: names.get(k, str(k)), factor, min_events),
                    _rows(grade_rows, lambda k: GRADES.get(k, f"{k} 级"), factor, min_events), factor, min_events)
