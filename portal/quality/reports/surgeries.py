"""The surgery report suite (数据报表), declared on the registry: operations per department, per surgeon and per
month, quality-event rates per department and per surgeon, and the core-system monitoring figures.

Operation counts read ``quality_surgeries``; whole-month periods without a department filter read the monthly
summary ``quality_surgery_months`` with identical results (kept current by every surgery write). These count
operations (手术例次), not persons: the persons (出院患者) are the indicator report's. Drill-downs list surgeries
with the 病案号 masked.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, and_, case, cast, distinct, false, func, select

from portal.auth.models import Staff
from portal.catalogue.models.technologies import Technology, TechnologyDepartment
from portal.catalogue.technologies.queries import as_of_query
from portal.core.scoping import scope_query
from portal.extensions import db
from portal.reports.registry import Chart, Choice, Column, Drill, Report, Rollup, register

from .. import VIEW
from ..indicators.reports import KEPT, _month_key, department_names, month_labels
from ..models import (
    KINDS,
    URGENCIES,
    GradeOutcomeMonth,
    OutcomeMonth,
    QualityEvent,
    SurgeonMonth,
    SurgeonOutcomeMonth,
    SurgeonTechnologyMonths,
    Surgery,
    SurgeryMonth,
)
from . import technologies
from .summary import CONDITIONS

GROUP = "医疗质量"
GRADE_NAMES = {"1": "一级", "2": "二级", "3": "三级", "4": "四级"}

HEADERS = {"surgeries": "手术例次", "grade1": "一级", "grade2": "二级", "grade3": "三级", "grade4": "四级",
           "surgery": "手术", "interventional": "介入", "mi": "微创", "emergency": "急诊", "elective": "择期",
           "limited": "限期", "day": "日间"}
# The operation measures: key -> (header, condition on Surgery's columns; None: every operation)
MEASURES = {key: (HEADERS[key], cond) for key, cond in CONDITIONS.items()}


def _filter(name, to_value=str):
    def apply(stmt, value, table=Surgery):
        return stmt.where(getattr(table, name) == to_value(value))
    return apply


def _bool(value: str) -> bool:
    return value == "1"


FILTERS = (
    Choice("grade", "手术级别", GRADE_NAMES, apply=_filter("grade", int)),
    Choice("mi", "微创", {"1": "微创", "0": "非微创"}, apply=_filter("minimally_invasive", _bool)),
    Choice("urgency", "急诊/择期", URGENCIES, apply=_filter("urgency")),
    Choice("kind", "类别", KINDS, apply=_filter("kind")),
)
def staff_names(ids: list) -> dict:
    return dict(db.session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids))).all())


def _raw_measures():
    return [(func.count(Surgery.id) if cond is None else func.sum(case((cond(Surgery), 1), else_=0))).label(key)
            for key, (_, cond) in MEASURES.items()]


def _raw(dimension):
    def query(params):
        dim = dimension(Surgery)
        return select(dim.label(_name(dimension)), *_raw_measures()).group_by(dim).order_by(dim)
    return query


def _on_records(code, params, user):
    """A filter on grade, 微创, urgency or kind reads the records (the summaries hold each measure's count, not
    every combination of them)."""
    from portal.reports import registry
    from portal.reports.engine import restrict

    report = registry.get(code)
    return restrict(report, report.query(params), params, user)


def _summary(code, dimension, model):
    """The summary's answer for whole months (with a filter: the records')."""
    def query(params, user):
        if any(params.options.get(choice.name) for choice in FILTERS):
            return _on_records(code, params, user)
        dim = dimension(model)
        stmt = (select(dim.label(_name(dimension)),
                       *(cast(func.sum(getattr(model, key)), BigInteger).label(key) for key in MEASURES))
                .where(model.month.between(params.start, params.end)).group_by(dim).order_by(dim))
        return stmt if user is None else scope_query(stmt, model.department_id, user.principal, VIEW)
    return query


def _name(dimension) -> str:
    return dimension.__name__


def department_id(t):
    return t.department_id


def surgeon_id(t):
    return t.surgeon_id


def month(t):
    return _month_key(t.operation_date if t is Surgery else t.month)


def _rows(condition):
    """The surgeries behind one count (of one row's key, or all rows)."""
    def rows(params, keys):
        stmt = select(Surgery)
        if condition is not None:
            stmt = stmt.where(condition)
        for key in ("department_id", "surgeon_id"):
            if keys.get(key) not in (None, ""):
                stmt = stmt.where(getattr(Surgery, key) == int(keys[key]))
        if keys.get("month") not in (None, ""):
            value = int(keys["month"])
            first = date(value // 100, value % 100, 1)
            after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            stmt = stmt.where(Surgery.operation_date >= first, Surgery.operation_date < after)
        return stmt.order_by(Surgery.operation_date.desc(), Surgery.id.desc())
    return rows


def drill_columns():
    from portal.io.export import Column as Shown

    return (Shown("手术记录号", lambda s: s.record_id, 18), Shown("病案号", lambda s: s.masked_mrn, 12),
            Shown("手术日期", lambda s: s.operation_date, 12), Shown("手术科室", lambda s: s.department.name, 14),
            Shown("术者", lambda s: s.surgeon.name, 10), Shown("手术名称", lambda s: s.operation_name, 24),
            Shown("级别", lambda s: s.grade, 6), Shown("类别", lambda s: s.kind_label, 8),
            Shown("微创", lambda s: "是" if s.minimally_invasive else "否", 6),
            Shown("急诊/择期", lambda s: s.urgency_label, 10),
            Shown("日间", lambda s: "是" if s.day_surgery else "否", 6))


def _measure_columns():
    return tuple(Column(key, header, drill=Drill(rows=_rows(cond and cond(Surgery)), columns=drill_columns(),
                                                title=f"{header}手术明细"))
                 for key, (header, cond) in MEASURES.items())


OPERATIONS_DEFINITION = (
    "统计对象：手术日期在所选期间内的手术记录（手术例次，一台手术一例，不是出院人数）。\n"
    "手术级别取记录的级别；手术/介入按记录的类别；微创、急诊/择期/限期、日间按记录标记。\n"
    "出院患者口径（人数）见「手术质量绩效考核指标」报表。科主任只统计本科室的手术。")

DIMENSIONS = {
    "department_id": Column("department_id", "手术科室", fmt="text", labels=department_names, key_type=int, width=16),
    "surgeon_id": Column("surgeon_id", "术者", fmt="text", labels=staff_names, key_type=int, width=12),
    "month": Column("month", "月份", fmt="text", labels=month_labels, key_type=int, width=12),
}


# A report with a row per surgeon (thousands at a hospital) shows this many rows a page.
SURGEON_PAGE = 100


def _page_size(dimension: str) -> int | None:
    return SURGEON_PAGE if dimension == "surgeon_id" else None


def _operations(code, title, dimension, summary, model, chart="bar", period="month", archive="monthly"):
    return register(Report(
        code=code, title=title, permission=VIEW, query=_raw(dimension),
        columns=(DIMENSIONS[_name(dimension)], *_measure_columns()), definition=OPERATIONS_DEFINITION,
        date_column=Surgery.operation_date, department_column=Surgery.department_id, filters=FILTERS,
        chart=Chart(chart, _name(dimension), ("grade3", "grade4") if chart == "bar" else ("surgeries", "grade4")),
        rollup=Rollup(_summary(code, dimension, model), min_months=1), group=GROUP, archive=archive, period=period,
        empty="该期间没有手术记录。", summary=summary, page_size=_page_size(_name(dimension)), cache=KEPT))


DEPARTMENT_OPERATIONS = _operations(
    "quality_surgery_by_department", "科室手术报表", department_id,
    "各科室手术例次：一至四级、手术/介入、微创、急诊/择期/限期、日间", SurgeryMonth)
SURGEON_OPERATIONS = _operations(
    "quality_surgery_by_surgeon", "医生手术报表", surgeon_id,
    "各术者手术例次（同科室筛选；选一年并选「同比」即个人年度手术报表）", SurgeonMonth)
MONTHLY_OPERATIONS = _operations(
    "quality_surgery_by_month", "科室年度手术报表（按月）", month,
    "全院或所选科室各月手术例次，选年度区间看逐月走势，可与上年同比", SurgeryMonth, chart="line", period="range",
    archive=None)


# --- event rates ----------------------------------------------------------------------------------------------

EVENTS = {"complication": ("并发症", QualityEvent.kind == "complication"),
          "reop48": ("48小时内非计划重返", and_(QualityEvent.kind == "reoperation", QualityEvent.interval_hours <= 48)),
          "reop31": ("31天内非计划重返", and_(QualityEvent.kind == "reoperation",
                                             QualityEvent.interval_hours <= 31 * 24)),
          "infection": ("术后感染", QualityEvent.kind == "infection"),
          "ssi": ("手术部位感染", QualityEvent.kind == "ssi")}


def _event_flags():
    return (select(QualityEvent.surgery_id.label("surgery_id"),
                   *(func.max(case((cond, 1), else_=0)).label(key) for key, (_, cond) in EVENTS.items()))
            .where(QualityEvent.status == "matched", QualityEvent.surgery_id.is_not(None))
            .group_by(QualityEvent.surgery_id).subquery("event_flags"))


def _events_query(dimension):
    def query(params):
        flags = _event_flags()
        dim = getattr(Surgery, dimension)
        return (select(dim.label(dimension), func.count(Surgery.id).label("surgeries"),
                       *(cast(func.coalesce(func.sum(flags.c[key]), 0), BigInteger).label(key) for key in EVENTS))
                .outerjoin(flags, flags.c.surgery_id == Surgery.id).group_by(dim).order_by(dim))
    return query


def _event_rows(key):
    def rows(params, keys):
        stmt = _rows(None)(params, keys)
        if key:
            stmt = stmt.where(Surgery.id.in_(select(QualityEvent.surgery_id).where(
                QualityEvent.status == "matched", EVENTS[key][1])))
        return stmt
    return rows


EVENTS_DEFINITION = (
    "分母：手术日期在所选期间内的手术例次（一台手术一例）。分子：关联到这些手术的质量事件，"
    "一台手术有多条同类事件只计一次。\n"
    "发生率 = 发生该事件的手术例次 ÷ 手术例次 × 100%（每百台手术）。48小时/31天按首次手术结束到再次手术的间隔。")


def _events_summary(code, dimension, model):
    """From the outcomes summary (operations, and operations with each event, a month): per department
    ``quality_grade_outcome_months`` (the same counts as ``quality_outcome_months`` without the technology: an
    eighth of its rows), ``quality_surgeon_outcome_months`` per surgeon."""
    def query(params, user):
        if any(params.options.get(choice.name) for choice in FILTERS):
            return _on_records(code, params, user)
        dim = getattr(model, dimension)
        stmt = (select(dim.label(dimension), cast(func.sum(model.cases), BigInteger).label("surgeries"),
                       *(cast(func.sum(getattr(model, key)), BigInteger).label(key) for key in EVENTS))
                .where(model.month.between(params.start, params.end)).group_by(dim)
                .having(func.sum(model.cases) > 0).order_by(dim))
        return stmt if user is None else scope_query(stmt, model.department_id, user.principal, VIEW)
    return Rollup(query, min_months=1)


def _events_report(code, title, dimension):
    columns = [DIMENSIONS[dimension],
               Column("surgeries", "手术例次（分母）", drill=Drill(rows=_event_rows(None), columns=drill_columns(),
                                                         title="手术明细"))]
    for key, (header, _) in EVENTS.items():
        columns.append(Column(key, header, drill=Drill(rows=_event_rows(key), columns=drill_columns(),
                                                       title=f"{header}手术明细")))
        columns.append(Column(f"{key}_rate", f"{header}率", fmt="percent", total="ratio", ratio=(key, "surgeries")))
    return register(Report(
        code=code, title=title, permission=VIEW, query=_events_query(dimension), columns=tuple(columns),
        definition=EVENTS_DEFINITION, date_column=Surgery.operation_date, department_column=Surgery.department_id,
        filters=FILTERS, chart=Chart("bar", dimension, ("complication_rate", "reop31_rate", "ssi_rate")),
        rollup=_events_summary(code, dimension,
                               GradeOutcomeMonth if dimension == "department_id" else SurgeonOutcomeMonth),
        group=GROUP, archive="monthly",
        empty="该期间没有手术记录。", page_size=_page_size(dimension), cache=KEPT,
        summary="并发症、非计划重返（48小时/31天）、术后感染与手术部位感染：每百台手术的发生率"))


DEPARTMENT_EVENTS = _events_report("quality_events_by_department", "科室手术质量事件发生率", "department_id")
SURGEON_EVENTS = _events_report("quality_events_by_surgeon", "医生手术质量事件发生率", "surgeon_id")


# --- core-system monitoring (核心制度监测) ----------------------------------------------------------------------

def _monitoring_query(params):
    """Per grade (3, 4) of the catalogue as it stood at the end of the period: entries on it (active), entries
    actually performed in the period, operations and operations with a complication."""
    # Materialised: the entries' JSON fields defeat the planner's estimates, so the as-of join is done once.
    entries = as_of_query(params.end).cte("entries").prefix_with("MATERIALIZED", dialect="postgresql")
    grade = entries.c.data["grade"].as_integer()
    complicated = (select(QualityEvent.id).where(QualityEvent.surgery_id == Surgery.id,
                                                 QualityEvent.status == "matched",
                                                 QualityEvent.kind == "complication").exists())
    return (select(grade.label("grade"), func.count(distinct(entries.c.technology_id)).label("listed"),
                   func.count(distinct(Surgery.technology_id)).label("performed"),
                   func.count(Surgery.id).label("operations"),
                   func.count(case((complicated, Surgery.id))).label("complicated"))
            .select_from(entries)
            .outerjoin(Surgery, and_(Surgery.technology_id == entries.c.technology_id,
                                     Surgery.operation_date.between(params.start, params.end)))
            .where(entries.c.data["status"].as_string() == "active", grade.in_((3, 4)))
            .group_by(grade).order_by(grade))


def _monitoring_summary(params, user):
    """The same figures from ``quality_outcome_months``, first added up per technology over the period."""
    entries = as_of_query(params.end).cte("entries").prefix_with("MATERIALIZED", dialect="postgresql")
    grade = entries.c.data["grade"].as_integer()
    done = (select(OutcomeMonth.technology_id, func.sum(OutcomeMonth.cases).label("cases"),
                   func.sum(OutcomeMonth.complication).label("complication"))
            .where(OutcomeMonth.month.between(params.start, params.end))
            .group_by(OutcomeMonth.technology_id).subquery("done"))
    stmt = (select(grade.label("grade"), func.count(distinct(entries.c.technology_id)).label("listed"),
                   func.count(distinct(done.c.technology_id)).label("performed"),
                   cast(func.coalesce(func.sum(done.c.cases), 0), BigInteger).label("operations"),
                   cast(func.coalesce(func.sum(done.c.complication), 0), BigInteger).label("complicated"))
            .select_from(entries).outerjoin(done, done.c.technology_id == entries.c.technology_id)
            .where(entries.c.data["status"].as_string() == "active", grade.in_((3, 4)))
            .group_by(grade).order_by(grade))
    return _hospital_only(stmt, user, VIEW)


def _hospital_only(stmt, user, permission):
    """Hospital-wide figures: the catalogue is the hospital's, so only those who see every department."""
    return stmt if user is None or user.principal.departments_for(permission) is None else stmt.where(false())


def _ratio_note(result) -> str:
    rates = {}
    for row in getattr(result, "rows", []):
        if row.get("operations"):
            rates[int(row["grade"])] = row["complicated"] / row["operations"]
    if rates.get(3) and 4 in rates:
        return f"四级/三级手术并发症发生率之比：{rates[4] / rates[3]:.2f}"
    return "四级/三级手术并发症发生率之比：无法计算（三级手术无并发症或无手术）"


MONITORING = register(Report(
    code="quality_core_monitoring", title="核心制度监测：三四级手术开展率与并发症",
    permission=VIEW, query=_monitoring_query,
    columns=(Column("grade", "目录级别", fmt="text", labels={3: "三级", 4: "四级"}, key_type=int, width=10),
             Column("listed", "目录在用项目数（分母）", total="sum"),
             Column("performed", "期间实际开展项目数", total="sum"),
             Column("performed_rate", "实际开展率", fmt="percent", total="ratio", ratio=("performed", "listed")),
             Column("operations", "手术例次"), Column("complicated", "有并发症的例次"),
             Column("complication_rate", "并发症发生率", fmt="percent", total="ratio",
                    ratio=("complicated", "operations"))),
    definition=("三四级手术实际开展率 = 期间内实际开展过的三（四）级目录项目数 ÷ 期末时点技术目录中在用的三（四）级"
                "项目数（目录按修订记录取期末当日的版本，停用项目不计）。\n"
                "并发症发生率 = 有并发症的手术例次 ÷ 该级别手术例次（级别取期末目录版本）；页面上方给出四级与三级"
                "并发症发生率之比。全院口径，仅医务部门可见。"),
    scope=_hospital_only, sees_everything=lambda user: user.principal.departments_for(VIEW) is None,
    department_filter=False, chart=Chart("bar", "grade", ("performed_rate", "complication_rate")),
    note=_ratio_note, group=GROUP, archive="monthly", empty="技术目录中没有在用的三、四级项目。",
    rollup=Rollup(_monitoring_summary, min_months=1), cache=KEPT,
    summary="三、四级手术目录项目的实际开展率，四级与三级手术并发症发生率之比"))

__all__ = [
    "DEPARTMENT_EVENTS",
    "DEPARTMENT_OPERATIONS",
    "MONITORING",
    "MONTHLY_OPERATIONS",
    "SURGEON_EVENTS",
    "SURGEON_OPERATIONS",
]


# --- technical capability (技术能力) -----------------------------------------------------------------------------

def _allowed_pairs():
    """(entry, department) of the active catalogue entries and the departments allowed to perform them."""
    return (select(TechnologyDepartment.technology_id, TechnologyDepartment.department_id)
            .join(Technology, Technology.id == TechnologyDepartment.technology_id)
            .where(Technology.status == "active"))


# measure -> (header, condition on an operation's (or a summary row's) grade and kind; None: every operation)
CAPABILITY = {"technologies": ("开展技术数", None),
              **{f"tech_grade{g}": (f"{GRADE_NAMES[str(g)]}技术数", lambda t, g=g: t.grade == g) for g in (1, 2, 3, 4)},
              "tech_surgery": ("手术类技术数", lambda t: t.kind == "surgery"),
              "tech_interventional": ("介入类技术数", lambda t: t.kind == "interventional")}


def _distinct(table, condition):
    value = table.technology_id if condition is None else case((condition, table.technology_id))
    return func.count(distinct(value))


def _capability_select(dimension, with_catalogue, table=Surgery):
    """Distinct technologies per `dimension` over the operations (Surgery) or the columns of the summary's rows."""
    dim = getattr(table, dimension)
    measures = [_distinct(table, cond and cond(table)).label(key) for key, (_, cond) in CAPABILITY.items()]
    stmt = select(table.technology_id)
    if with_catalogue:
        pairs = _allowed_pairs().subquery("pairs")
        allowed = (select(pairs.c.department_id, func.count().label("allowed"))
                   .group_by(pairs.c.department_id).subquery("allowed"))
        stmt = (stmt.outerjoin(pairs, and_(pairs.c.technology_id == table.technology_id,
                                           pairs.c.department_id == table.department_id))
                .outerjoin(allowed, allowed.c.department_id == table.department_id))
        measures += [_distinct(table, pairs.c.technology_id.is_not(None)).label("listed_performed"),
                     func.coalesce(func.max(allowed.c.allowed), 0).label("allowed")]
    return stmt.with_only_columns(dim.label(dimension), *measures, maintain_column_froms=True).group_by(
        dim).order_by(dim)


def _capability_query(dimension, with_catalogue):
    def query(params):
        return _capability_select(dimension, with_catalogue)
    return query


def _capability_summary(code):
    """Per department from ``quality_outcome_months``: a technology counts where a row of it has operations."""
    def query(params, user):
        if any(params.options.get(choice.name) for choice in FILTERS):
            return _on_records(code, params, user)
        # The period's (department, technology, grade, kind) once each (a few thousand), then counted; a summary
        # row always has operations, so this reads the primary key only.
        keys = (OutcomeMonth.department_id, OutcomeMonth.technology_id, OutcomeMonth.grade, OutcomeMonth.kind)
        done = (select(*keys).where(OutcomeMonth.month.between(params.start, params.end))
                .group_by(*keys).subquery("done"))
        stmt = _capability_select("department_id", True, done.c)
        return stmt if user is None else scope_query(stmt, done.c.department_id, user.principal, VIEW)
    return Rollup(query, min_months=1)


def _surgeon_capability_summary(code):
    """Per surgeon from ``quality_surgeon_technology_months``: a technology counts where a row of it has a month
    in the period (a key may have a row in each of two five-year blocks; the distinct count takes it once)."""
    table = SurgeonTechnologyMonths

    def period(stmt, params, user):
        stmt = stmt.where(technologies.months_between(params.start, params.end))
        return stmt if user is None else scope_query(stmt, table.department_id, user.principal, VIEW)

    def query(params, user):
        if any(params.options.get(choice.name) for choice in FILTERS):
            return _on_records(code, params, user)
        # PostgreSQL reads it in the covering index's order (surgeon, technology): no sort for the distinct counts.
        return period(_capability_select("surgeon_id", False, table), params, user)

    def totals(params, user):
        """The whole period's distinct technologies: one row a technology (whether any of its rows meets each
        measure's condition), then counted, instead of distinct counts over every row."""
        if any(params.options.get(choice.name) for choice in FILTERS):
            return None
        measured = {key: cond for key, (_, cond) in CAPABILITY.items() if cond is not None}
        flags = period(select(table.technology_id, *(func.max(case((cond(table), 1), else_=0)).label(key)
                                                     for key, cond in measured.items())), params, user)
        flags = flags.group_by(table.technology_id).subquery("flags")
        return select(func.count().label("technologies"),
                      *(cast(func.coalesce(func.sum(flags.c[key]), 0), BigInteger).label(key) for key in measured))
    return Rollup(query, min_months=1, totals=totals)


def _technology_rows(condition):
    def rows(params, keys):
        stmt = select(Technology).join(Surgery, Surgery.technology_id == Technology.id)
        if condition is not None:
            stmt = stmt.where(condition(Surgery))
        for key in ("department_id", "surgeon_id"):
            if keys.get(key) not in (None, ""):
                stmt = stmt.where(getattr(Surgery, key) == int(keys[key]))
        return stmt.group_by(Technology.id).order_by(Technology.code)  # one row an entry (json: no DISTINCT)
    return rows


def technology_columns():
    from portal.io.export import Column as Shown

    return (Shown("院内编码", lambda t: t.code, 14), Shown("国家临床版编码", lambda t: t.national_code, 14),
            Shown("技术名称", lambda t: t.name, 28), Shown("类别", lambda t: t.category_label, 8),
            Shown("级别", lambda t: t.grade_label, 6))


CAPABILITY_DEFINITION = (
    "开展技术数 = 所选期间内有手术记录的不重复技术目录项目数（同一项目做多台只计一项；级别与类别取手术记录）。"
    "合计行按全部记录重新去重，不是各行相加。\n"
    "科室报表另列：技术目录中允许本科室开展的在用项目数（目录当前状态），及其中期间内实际开展的项目数和开展率。")


def _capability_report(code, title, dimension, with_catalogue, summary):
    columns = [DIMENSIONS[dimension]]
    for key, (header, cond) in CAPABILITY.items():
        columns.append(Column(key, header, total="query", drill=Drill(
            rows=_technology_rows(cond), columns=technology_columns(), title=f"{header}明细")))
    if with_catalogue:
        columns += [Column("allowed", "目录允许项目数"), Column("listed_performed", "其中已开展"),
                    Column("listed_rate", "目录项目开展率", fmt="percent", total="ratio",
                           ratio=("listed_performed", "allowed"))]
    return register(Report(
        code=code, title=title, permission=VIEW, query=_capability_query(dimension, with_catalogue),
        columns=tuple(columns), definition=CAPABILITY_DEFINITION, date_column=Surgery.operation_date,
        department_column=Surgery.department_id, filters=FILTERS,
        chart=Chart("bar", dimension, ("tech_grade3", "tech_grade4")), group=GROUP, archive="monthly",
        rollup=_capability_summary(code) if with_catalogue else _surgeon_capability_summary(code),
        empty="该期间没有手术记录。", summary=summary, page_size=_page_size(dimension), cache=KEPT))


DEPARTMENT_CAPABILITY = _capability_report(
    "quality_capability_by_department", "科室技术能力报表", "department_id", True,
    "各科室开展的不重复技术数（按级别、类别），对照技术目录允许本科室开展的项目")
SURGEON_CAPABILITY = _capability_report(
    "quality_capability_by_surgeon", "个人技术能力报表", "surgeon_id", False,
    "各术者开展的不重复技术数（按级别、类别）")
