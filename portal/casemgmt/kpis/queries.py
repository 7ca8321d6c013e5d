"""The month's case-management KPIs (月度指标), each with its definition, numerator and denominator.

Every figure is one grouped query over the month's rows (no loop over tasks or ledger rows in
Python); the drill-down builders return the selects whose rows make up each figure, so a number
on the dashboard and the list behind it cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache

from flask import current_app
from sqlalchemy import Select, and_, case, distinct, false, func, or_, select, true
from sqlalchemy.orm import selectinload

from portal.auth.models import User
from portal.auth.queries import active_user_ids_with_roles
from portal.core.listing import apply_sort
from portal.core.months import current_month, month_end, previous_month
from portal.core.timeutil import local_today, to_local
from portal.extensions import db

from .. import scoping
from ..feedback.services import scope_events
from ..ledger import summary as ledger_summary
from ..models import (
    EVENT_KINDS,
    AdverseEvent,
    CareTask,
    Enrolment,
    LedgerEntry,
    LedgerMonth,
    Plan,
    PlanItem,
    SatisfactionSurvey,
)
from .window import window_close as _window_close

DONE_OUTCOMES = ("reached", "declined")  # a step counts as carried out when the patient was reached or declined
EXECUTED_STATES = ("done", "declined")  # the task states those outcomes close a task with
# "Not reached" keeps a task open (it counts as 未完成) until the last allowed attempt closes it as unreached.
EXECUTION_STATES = {"ontime": "按时完成", "late": "超窗完成", "open": "未完成", "unreached": "多次未联系上"}
SATISFIED_TOTAL = 12  # mean of three 1-5 scores >= 4, kept in integers: their sum >= 12
KPI_CODES = ("execution", "satisfaction", "events", "served", "workload", "late_plans")


def _ratio_text(value: Fraction, places: str = "0.1") -> str:
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal(places), ROUND_HALF_UP))


# --- the KPI record ------------------------------------------------------------------------------------------

@dataclass
class Part:
    """One count behind a KPI (e.g. 超窗完成 3) and the drill-down filters that list its rows."""

    label: str
    count: int
    filters: dict = field(default_factory=dict)


@dataclass
class Kpi:
    code: str
    label: str
    definition: str
    kind: str  # rate (a share, shown as %), count, ratio (patients per case manager, shown as 1 : n)
    numerator: int
    denominator: int | None
    numerator_label: str
    denominator_label: str = ""
    unit: str = ""
    target: Fraction | None = None
    lower_is_better: bool = False
    target_label: str = "—"
    scored: bool = False  # one of the contract's three quality indicators, used by the proposed score
    numerator_filters: dict = field(default_factory=dict)
    parts: list[Part] = field(default_factory=list)
    previous: Kpi | None = None
    note: str = ""
    met_when_empty: bool | None = None  # what "met" is when the denominator is zero

    @property
    def ratio(self) -> Fraction | None:
        if self.kind == "count" or not self.denominator:
            return None
        return Fraction(self.numerator, self.denominator)

    @property
    def value(self) -> Fraction | int | None:
        return self.numerator if self.kind == "count" else self.ratio

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        if self.kind == "count":
            value = Fraction(self.numerator)
        elif not self.denominator:
            return self.met_when_empty
        else:
            value = self.ratio
        return value <= self.target if self.lower_is_better else value >= self.target

    @property
    def display(self) -> str:
        if self.kind == "count":
            return f"{self.numerator}"
        if self.ratio is None:
            return "—"
        if self.kind == "rate":
            return f"{_ratio_text(self.ratio * 100)}%"
        return f"1 : {_ratio_text(self.ratio)}"

    @property
    def percent_points(self) -> Fraction | None:
        """A rate in percentage points (98.5 for 98.5%), exact."""
        return self.ratio * 100 if self.kind == "rate" and self.ratio is not None else None


@dataclass
class MonthKpis:
    month: date
    today: date
    execution: Kpi
    satisfaction: Kpi
    events: Kpi
    served: Kpi
    workload: Kpi
    late_plans: Kpi

    @property
    def items(self) -> list[Kpi]:
        return [getattr(self, code) for code in KPI_CODES]

    @property
    def scored(self) -> list[Kpi]:
        return [k for k in self.items if k.scored]

    @property
    def in_progress(self) -> bool:
        return self.month == current_month(self.today)


# --- pathway execution -------------------------------------------------------------------------------------------

def execution_period(month: date, today: date | None = None) -> tuple[date, date]:
    """The window-end dates counted: the month, and for the month in progress only windows closed by yesterday."""
    today = today or local_today()
    return month, min(month_end(month), today - timedelta(days=1))


def _execution_where(start: date, end: date) -> list:
    return [CareTask.source == "pathway", CareTask.status != "cancelled", CareTask.window_end >= start,
            CareTask.window_end <= end]


def _state_condition(state: str, start: date, end: date):
    done = and_(CareTask.status.in_(EXECUTED_STATES), CareTask.outcome.in_(DONE_OUTCOMES))
    if state == "ontime":
        return and_(done, CareTask.completed_at < _window_close(start, end))
    if state == "late":
        return and_(done, CareTask.completed_at >= _window_close(start, end))
    if state == "unreached":
        return CareTask.status == "unreached"
    return and_(CareTask.status != "unreached", or_(CareTask.status.not_in(EXECUTED_STATES),
                                                    CareTask.outcome.is_(None),
                                                    CareTask.outcome.not_in(DONE_OUTCOMES)))


def execution_state(task: CareTask) -> str:
    """The drill-down column for one task; the same rule as the SQL conditions above."""
    if task.status in EXECUTED_STATES and task.outcome in DONE_OUTCOMES and task.completed_at is not None:
        return "ontime" if to_local(task.completed_at).date() <= task.window_end else "late"
    if task.status == "unreached":
        return "unreached"
    return "open"


@lru_cache(maxsize=64)  # the home panels' figures: the same select all day
def _execution_counts(month: date, today: date) -> Select | None:
    """One row: the steps due, on time, carried out, unreached (None: no window has closed yet)."""
    start, end = execution_period(month, today)
    if end < start:
        return None
    # Late = carried out (with a completion time) but not in time: the per-day window CASE is written once.
    done = and_(CareTask.status.in_(EXECUTED_STATES), CareTask.outcome.in_(DONE_OUTCOMES),
                CareTask.completed_at.is_not(None))
    return select(
        func.count(),
        func.sum(case((_state_condition("ontime", start, end), 1), else_=0)),
        func.sum(case((done, 1), else_=0)),
        func.sum(case((_state_condition("unreached", start, end), 1), else_=0)),
    ).where(*_execution_where(start, end))


def _execution(month: date, today: date, row: tuple | None = None) -> Kpi:
    counts = dict.fromkeys(EXECUTION_STATES, 0)
    if row is None:
        stmt = _execution_counts(month, today)
        row = db.session.execute(stmt).one() if stmt is not None else (0, 0, 0, 0)
    total, ontime, carried_out, unreached = row
    counts.update(ontime=int(ontime or 0), late=int(carried_out or 0) - int(ontime or 0),
                  unreached=int(unreached or 0))
    counts["open"] = total - counts["ontime"] - counts["late"] - counts["unreached"]
    due = sum(counts.values())
    definition = ("管理路径生成的任务中，窗口截止日在本月内、且未取消（入组结案而取消的不计）的为应完成步骤；"
                  "其中结果为“已完成（联系上）”或“患者拒绝”、"
                  "且完成时间（北京时间）的日期不晚于窗口截止日的为按时完成。"
                  "“未联系上”不算执行：任务保持待完成并结转次日（计入未完成），"
                  "连续未联系上达到上限次数后关闭并上报组长（计入多次未联系上）。"
                  "执行率 = 按时完成步骤数 ÷ 应完成步骤数。本月尚未结束时，只统计窗口截止日在昨天及以前的步骤。")
    return Kpi("execution", "管理路径执行率", definition, "rate", counts["ontime"], due, "按时完成步骤",
               "应完成步骤", target=Fraction(98, 100), target_label="≥ 98%", scored=True,
               numerator_filters={"state": "ontime"},
               parts=[Part(label, counts[code], {"state": code}) for code, label in EXECUTION_STATES.items()])


def execution_query(month: date, state: str = "", viewer=None, today: date | None = None) -> Select:
    """The tasks counted in the month's execution rate (optionally one state), scoped to what the viewer may see."""
    start, end = execution_period(month, today)
    stmt = select(CareTask).options(selectinload(CareTask.case_manager))
    if end < start:
        return stmt.where(false())
    stmt = stmt.where(*_execution_where(start, end))
    if state:
        stmt = stmt.where(_state_condition(state, start, end))
    if viewer is not None:
        stmt = scoping.scope_to_manager(stmt, CareTask.case_manager_id, viewer)
    return stmt


# --- satisfaction, events, patients served ----------------------------------------------------------------------

def _survey_total():
    return SatisfactionSurvey.timeliness + SatisfactionSurvey.effectiveness + SatisfactionSurvey.attitude


def _in_month(column, month: date):
    return and_(column >= month, column <= month_end(month))


@lru_cache(maxsize=64)  # the home panels' figures: the same select all day
def _satisfaction_counts(month: date) -> Select:
    return select(func.count(), func.sum(case((_survey_total() >= SATISFIED_TOTAL, 1), else_=0))).where(
        _in_month(SatisfactionSurvey.survey_month, month))


def _satisfaction(month: date, row: tuple | None = None) -> Kpi:
    total, satisfied = row if row is not None else db.session.execute(_satisfaction_counts(month)).one()
    satisfied = int(satisfied or 0)
    definition = ("调查月份为本月的满意度调查中，服务及时性、服务有效性、服务态度三项评分（1–5 分）"
                  "的平均分 ≥ 4 分的为满意。满意度 = 满意份数 ÷ 本月调查总份数。")
    return Kpi("satisfaction", "服务对象满意度", definition, "rate", satisfied, total, "满意份数", "调查总份数",
               target=Fraction(90, 100), target_label="≥ 90%", scored=True, numerator_filters={"satisfied": "1"},
               parts=[Part("满意", satisfied, {"satisfied": "1"}),
                      Part("不满意", total - satisfied, {"satisfied": "0"})])


def survey_query(month: date, satisfied: str = "", viewer=None) -> Select:
    stmt = select(SatisfactionSurvey).where(_in_month(SatisfactionSurvey.survey_month, month))
    if satisfied == "1":
        stmt = stmt.where(_survey_total() >= SATISFIED_TOTAL)
    elif satisfied == "0":
        stmt = stmt.where(_survey_total() < SATISFIED_TOTAL)
    if viewer is not None:
        stmt = scoping.scope_patients(stmt, SatisfactionSurvey.patient_id, viewer)
    return stmt


def _ledger_select(month: date) -> Select:
    """The month's patients served (distinct) and services (ledger rows), from the monthly summaries that the
    ledger's writes keep (ledger/summary.py): one row each, where the ledger itself has ~20,000 rows a month."""
    services = (select(func.coalesce(func.sum(LedgerMonth.services), 0))
                .where(LedgerMonth.month == month.replace(day=1)).scalar_subquery())
    return select(ledger_summary.served_patients(month), services)


def _ledger_counts(month: date) -> tuple[int, int]:
    """The month's patients served (distinct) and services (ledger rows)."""
    served, services = db.session.execute(_ledger_select(month)).one()
    return served, services


def _served(month: date, served: int) -> Kpi:
    definition = ("服务台账中服务日期在本月的不同患者人数（同一患者本月多次服务计 1 人）。"
                  "按合同约定，各项考核指标均以考核期内服务总人数为标准，本数为不良事件发生率的分母。")
    return Kpi("served", "服务患者数", definition, "count", served, None, "服务患者", unit="人",
               target_label="—（考核基数）")


def _event_counts(month: date) -> Select:
    """One row: all the month's events, then those of each kind (EVENT_KINDS' order)."""
    return select(func.count(), *(func.sum(case((AdverseEvent.kind == code, 1), else_=0)) for code in EVENT_KINDS)
                  ).where(_in_month(AdverseEvent.occurred_on, month))


def _events(month: date, served: int, row: tuple | None = None) -> Kpi:
    events, *kinds = row if row is not None else db.session.execute(_event_counts(month)).one()
    by_kind = {code: int(n or 0) for code, n in zip(EVENT_KINDS, kinds, strict=True)}
    definition = ("发生日期在本月的不良事件与服务投诉条数 ÷ 本月服务患者数（见“服务患者数”）。"
                  "本月无服务患者时不计算。")
    return Kpi("events", "不良事件（含服务投诉）发生率", definition, "rate", events, served, "不良事件与投诉",
               "服务患者数", target=Fraction(1, 100), lower_is_better=True, target_label="≤ 1%", scored=True,
               parts=[Part(label, by_kind.get(code, 0), {"kind": code}) for code, label in EVENT_KINDS.items()])


def event_query(month: date, kind: str = "", viewer=None) -> Select:
    stmt = (select(AdverseEvent).where(_in_month(AdverseEvent.occurred_on, month))
            .options(selectinload(AdverseEvent.case_manager)))
    if kind:
        stmt = stmt.where(AdverseEvent.kind == kind)
    if viewer is not None:
        stmt = scope_events(stmt, viewer)  # the events pages' own rule
    return stmt


# --- workload -------------------------------------------------------------------------------------------------

@dataclass
class ManagerRow:
    user_id: int | None
    name: str
    caseload: int  # active enrolments now
    patients: int  # distinct patients served in the month
    services: int  # ledger entries in the month
    over_norm: bool


def case_manager_ids() -> list[int]:
    return active_user_ids_with_roles(("case_manager",))


def manager_rows(month: date) -> list[ManagerRow]:
    """Per case manager: caseload now and the month's service; active case managers and anyone who served."""
    from ..patients.services import caseloads

    norm = current_app.config["CASELOAD_NORM"]
    loads = caseloads()
    served = {uid: (patients, services) for uid, patients, services in db.session.execute(
        select(LedgerEntry.case_manager_id, func.count(distinct(LedgerEntry.patient_id)), func.count())
        .where(_in_month(LedgerEntry.service_date, month)).group_by(LedgerEntry.case_manager_id))}
    ids = set(case_manager_ids()) | set(loads) | {uid for uid in served if uid is not None}
    names = {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    rows = [ManagerRow(uid, names.get(uid, f"用户 {uid}"), loads.get(uid, 0), *served.get(uid, (0, 0)),
                       over_norm=loads.get(uid, 0) > norm) for uid in ids]
    if None in served:
        rows.append(ManagerRow(None, "（未记录个案管理师）", 0, *served[None], over_norm=False))
    rows.sort(key=lambda r: (-r.caseload, -r.services, r.name))
    return rows


def _workload(month: date, managers: int, active: int, over: int, services: int) -> Kpi:
    norm = current_app.config["CASELOAD_NORM"]
    definition = (f"当前在管患者数（状态为管理中的入组）÷ 在岗个案管理师人数，与 1 : {norm} 的配置标准比较，"
                  f"人均在管不超过 {norm} 名为达标；单人当前在管超过 {norm} 名的单独标出。"
                  "在管人数为当前数（不随所选月份变化）；服务人次取所选月份的服务台账条数。")
    return Kpi("workload", "个案管理师工作量", definition, "ratio", active, managers, "在管患者", "在岗个案管理师",
               target=Fraction(norm), lower_is_better=True, target_label=f"≤ 1 : {norm}",
               met_when_empty=False if active else None,
               parts=[Part(f"单人超过 {norm} 名", over, {"over": "1"}), Part("本月服务人次", services)])


# --- late plans -------------------------------------------------------------------------------------------------

def _late_plan_counts(month: date) -> Select:
    late_items = (select(func.count()).select_from(PlanItem).join(Plan, Plan.id == PlanItem.plan_id)
                  .where(_in_month(Plan.plan_date, month), PlanItem.is_late.is_(True)).scalar_subquery())
    return (select(func.count(), func.sum(case((Plan.is_late.is_(True), 1), else_=0)), late_items)
            .where(_in_month(Plan.plan_date, month)))


def _late_plans(month: date, row: tuple | None = None) -> Kpi:
    plans, late, late_items = row if row is not None else db.session.execute(_late_plan_counts(month)).one()
    definition = ("计划日期在本月的次日服务计划中，有内容在前一日 17:00 之后提交（逾期）的天数；"
                  "分母为本月有计划的天数，另计逾期提交的计划条目数。此为医院下达计划的及时性，不计入考核建议分。")
    return Kpi("late_plans", "次日计划逾期下达", definition, "count", int(late or 0), plans, "逾期下达的计划",
               "本月计划天数", unit="天", target=Fraction(0), lower_is_better=True, target_label="0 天",
               parts=[Part("逾期条目", late_items)])


def late_plans_query(month: date) -> Select:
    return select(Plan).where(_in_month(Plan.plan_date, month), Plan.is_late.is_(True))


def late_item_counts(month: date) -> dict[int, int]:
    """Late items per plan of the month, in one query (for the drill-down and its export)."""
    return dict(db.session.execute(select(PlanItem.plan_id, func.count()).join(Plan, Plan.id == PlanItem.plan_id)
                                   .where(_in_month(Plan.plan_date, month), PlanItem.is_late.is_(True))
                                   .group_by(PlanItem.plan_id)).all())


# --- drill-down sorting -------------------------------------------------------------------------------------------

SORTS = {
    "execution": ({"window_end": CareTask.window_end, "due": CareTask.first_due_date,
                   "completed": CareTask.completed_at}, "window_end", CareTask.id),
    "satisfaction": ({"created": SatisfactionSurvey.created_at, "score": _survey_total()}, "created",
                     SatisfactionSurvey.id),
    "events": ({"occurred": AdverseEvent.occurred_on, "kind": AdverseEvent.kind}, "occurred", AdverseEvent.id),
    "late_plans": ({"date": Plan.plan_date, "submitted": Plan.last_submitted_at}, "date", Plan.id),
}


def sorted_query(code: str, stmt: Select, sort) -> Select:
    allowed, _default, tiebreak = SORTS[code]
    return apply_sort(stmt, sort, allowed, tiebreak)


# --- the month ----------------------------------------------------------------------------------------------------

def _month_counts(month: date, today: date) -> list[Select | None]:
    """The one-row counting selects behind a month's KPIs (None: nothing to count)."""
    return [_ledger_select(month), _execution_counts(month, today), _satisfaction_counts(month),
            _event_counts(month), _late_plan_counts(month)]


@lru_cache(maxsize=64)
def _counting_sql(months: tuple[date, ...], today: date, dialect: str,
                  zone: str) -> tuple[str | None, tuple[int | None, ...]]:
    """The months' counting selects as one statement (each a subquery of a cross join): one round trip instead
    of one per figure. Its values are written into the SQL: the text is the same all day, so it is built and
    compiled once per process, and the server plans it once for the day's dates (with the dates as parameters its
    generic plan was twice as slow). With it, each select's width (None for a None select) to cut the row apart."""
    selects = [stmt for month in months for stmt in _month_counts(month, today)]
    present = [s.subquery() for s in selects if s is not None]
    widths = tuple(None if s is None else len(s.selected_columns) for s in selects)
    if not present:
        return None, widths
    joined = present[0]
    for sub in present[1:]:
        joined = joined.join(sub, true())  # one row each: the cross join is one row
    stmt = select(*(c for sub in present for c in sub.c)).select_from(joined)
    return str(stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})), widths


def _month_rows(months: tuple[date, ...], today: date) -> list[tuple | None]:
    """The counting rows of each month's KPIs (_month_counts' order, month after month)."""
    # The zone is part of the key: the local days' UTC bounds are written into the text.
    sql, widths = _counting_sql(months, today, db.engine.dialect.name, current_app.config["TIMEZONE"])
    # Dates, numbers and fixed codes only (no user input) are written into this text.
    row = tuple(db.session.connection().exec_driver_sql(sql).one()) if sql is not None else ()
    out, at = [], 0
    for width in widths:
        out.append(None if width is None else row[at:at + width])
        at += width or 0
    return out


def _month(month: date, today: date, managers: int, active: int, over: int,
           rows: list[tuple | None]) -> MonthKpis:
    (served, services), execution, satisfaction, events, late_plans = rows
    return MonthKpis(month, today, _execution(month, today, execution or (0, 0, 0, 0)),
                     _satisfaction(month, satisfaction), _events(month, served, events), _served(month, served),
                     _workload(month, managers, active, over, services), _late_plans(month, late_plans))


def month_kpis(month: date, *, today: date | None = None, with_previous: bool = True) -> MonthKpis:
    """The month's KPIs (the first day of `month` is used), each with the previous month's for comparison."""
    month = month.replace(day=1)
    today = today or local_today()
    norm = current_app.config["CASELOAD_NORM"]
    managers = len(case_manager_ids())
    # Active enrolments per case manager (caseloads()) and in all, those without a manager included: one query.
    loads = dict(db.session.execute(select(Enrolment.case_manager_id, func.count())
                                    .where(Enrolment.status == "active").group_by(Enrolment.case_manager_id)).all())
    active = sum(loads.values())
    over = sum(1 for uid, load in loads.items() if uid is not None and load > norm)
    # The month's figures and the previous month's: one statement.
    before_month = previous_month(month)
    rows = _month_rows((month, before_month) if with_previous else (month,), today)
    result = _month(month, today, managers, active, over, rows[:5])
    if with_previous:
        before = _month(before_month, today, managers, active, over, rows[5:])
        for code in KPI_CODES:
            if code != "workload":  # the caseload is a count of now: last month's would be the same number
                getattr(result, code).previous = getattr(before, code)
        result.workload.note = f"上月服务 {before.workload.parts[1].count} 人次"
    return result


def kpi_for(code: str, month: date, today: date | None = None) -> Kpi:
    """One KPI of the month (the drill-down page's header), without computing the others."""
    month, today = month.replace(day=1), today or local_today()
    if code == "execution":
        return _execution(month, today)
    if code == "satisfaction":
        return _satisfaction(month)
    if code == "served":
        return _served(month, _ledger_counts(month)[0])
    if code == "events":
        return _events(month, _ledger_counts(month)[0])
    if code == "late_plans":
        return _late_plans(month)
    return month_kpis(month, today=today, with_previous=False).workload
