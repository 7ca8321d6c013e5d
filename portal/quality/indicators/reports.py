"""The performance indicators as a declared report (portal/reports): per discharge department, every numerator
and denominator as a column that drills down to its discharges, and the rates beside them.

The query reads the discharges' flags (kept by the writes); whole-month periods (one month or five years) without
a department filter read the monthly summary (`quality_months`) with identical results: a month over the whole
hospital is some 12,000 discharges, the summary a few hundred rows. Drill-downs read the discharges.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, case, cast, extract, func, select

from portal.auth.models import Department
from portal.core.scoping import scope_query
from portal.extensions import db
from portal.reports.registry import Chart, Column, Drill, Report, ResultCache, Rollup, register

from .. import VIEW
from ..models import EXCLUDED_MODE, FLAGS, Discharge, QualityMonth
from .definitions import COUNTS, INDICATORS, RULES


def _generation():
    from ..outcomes.queries import generation

    return generation()


# Every quality report reads tables that move the quality generation (operations, events, discharges, the quality
# summaries, the catalogue) and labels departments and staff, which move it too: each worker keeps a result (per
# filters, page, scope and day) until one of them changes.
KEPT = ResultCache(_generation)


def department_names(ids: list) -> dict:
    return dict(db.session.execute(select(Department.id, Department.name).where(Department.id.in_(ids))).all())


def _query(params):
    return (select(Discharge.department_id.label("department_id"), func.count(Discharge.id).label("discharges"),
                   *(func.sum(case((getattr(Discharge, flag), 1), else_=0)).label(flag) for flag in FLAGS))
            .where(Discharge.discharge_mode != EXCLUDED_MODE)
            .group_by(Discharge.department_id).order_by(Discharge.department_id))


def _summary(params, user):
    stmt = (select(QualityMonth.department_id.label("department_id"),
                   *(cast(func.sum(getattr(QualityMonth, key)), BigInteger).label(key) for key in COUNTS))
            .where(QualityMonth.month.between(params.start, params.end), QualityMonth.discharges > 0)
            .group_by(QualityMonth.department_id).order_by(QualityMonth.department_id))
    if user is not None:
        stmt = scope_query(stmt, QualityMonth.department_id, user.principal, VIEW)
    return stmt


def _month_key(column):
    """A month as the number 202611 (portable: extract works on SQLite and PostgreSQL)."""
    return cast(extract("year", column) * 100 + extract("month", column), BigInteger)


def month_labels(values: list) -> dict:
    return {v: f"{int(v) // 100}年{int(v) % 100}月" for v in values}


def _rows(flag: str | None):
    """The discharges behind one count (of one department or month row, or all rows)."""

    def rows(params, keys: dict):
        stmt = select(Discharge).where(Discharge.discharge_mode != EXCLUDED_MODE)
        if flag:
            stmt = stmt.where(getattr(Discharge, flag).is_(True))
        if keys.get("department_id") not in (None, ""):
            stmt = stmt.where(Discharge.department_id == int(keys["department_id"]))
        if keys.get("month") not in (None, ""):
            key = int(keys["month"])
            first = date(key // 100, key % 100, 1)
            after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            stmt = stmt.where(Discharge.discharge_date >= first, Discharge.discharge_date < after)
        return stmt.order_by(Discharge.discharge_date.desc(), Discharge.id.desc())

    return rows


def drill_columns():
    from portal.io.export import Column as Shown

    return (Shown("出院记录号", lambda d: d.record_id, 18), Shown("病案号", lambda d: d.masked_mrn, 12),
            Shown("住院次数", lambda d: d.admission_no, 8), Shown("患者标识", lambda d: d.patient_pseudonym, 12),
            Shown("出院科室", lambda d: d.department.name, 14), Shown("入院日期", lambda d: d.admission_date, 12),
            Shown("出院日期", lambda d: d.discharge_date, 12), Shown("离院方式", lambda d: d.mode_label, 12),
            Shown("日间手术", lambda d: "是" if d.day_surgery else "否", 8))


def _count_column(key: str, header: str) -> Column:
    flag = None if key == "discharges" else key
    return Column(key, header, drill=Drill(rows=_rows(flag), columns=drill_columns(), title=f"{header}明细"))


DEFINITION = RULES + "\n" + "\n".join(f"{i.title} = {i.definition}" for i in INDICATORS)

INDICATOR_REPORT = register(Report(
    code="quality_indicators", title="手术质量绩效考核指标（按科室）",
    permission=VIEW, query=_query,
    columns=(Column("department_id", "出院科室", fmt="text", labels=department_names, key_type=int, width=16),
             *(_count_column(key, header) for key, header in COUNTS.items()),
             *(Column(i.key, i.title, fmt="percent", total="ratio", ratio=(i.numerator, i.denominator), width=16)
               for i in INDICATORS)),
    definition=DEFINITION, date_column=Discharge.discharge_date, department_column=Discharge.department_id,
    chart=Chart("bar", "department_id", ("surgery_rate", "mi_rate", "grade4_rate")),
    rollup=Rollup(_summary, min_months=1), group="医疗质量", archive="monthly", empty="该期间没有出院记录。",
    cache=KEPT,
    summary="出院患者手术占比、微创、四级、日间、非计划重返、并发症与Ⅰ类切口感染：分子、分母与比率"))


def _by_month_query(params):
    month = _month_key(Discharge.discharge_date)
    return (select(month.label("month"), func.count(Discharge.id).label("discharges"),
                   *(func.sum(case((getattr(Discharge, flag), 1), else_=0)).label(flag) for flag in FLAGS))
            .where(Discharge.discharge_mode != EXCLUDED_MODE).group_by(month).order_by(month))


def _by_month_summary(params, user):
    month = _month_key(QualityMonth.month)
    stmt = (select(month.label("month"),
                   *(cast(func.sum(getattr(QualityMonth, key)), BigInteger).label(key) for key in COUNTS))
            .where(QualityMonth.month.between(params.start, params.end), QualityMonth.discharges > 0)
            .group_by(month).order_by(month))
    if user is not None:
        stmt = scope_query(stmt, QualityMonth.department_id, user.principal, VIEW)
    return stmt


INDICATOR_TREND = register(Report(
    code="quality_indicators_by_month", title="手术质量绩效考核指标（按月）",
    permission=VIEW, query=_by_month_query, period="range",
    columns=(Column("month", "月份", fmt="text", labels=month_labels, key_type=int, width=12),
             *(_count_column(key, header) for key, header in COUNTS.items()),
             *(Column(i.key, i.title, fmt="percent", total="ratio", ratio=(i.numerator, i.denominator), width=16)
               for i in INDICATORS)),
    definition=DEFINITION, date_column=Discharge.discharge_date, department_column=Discharge.department_id,
    chart=Chart("line", "month", ("surgery_rate", "mi_rate", "grade4_rate")),
    rollup=Rollup(_by_month_summary, min_months=1), group="医疗质量", empty="该期间没有出院记录。",
    cache=KEPT,
    summary="各月的手术质量指标（全院或所选科室）：分子、分母与比率，看趋势"))
