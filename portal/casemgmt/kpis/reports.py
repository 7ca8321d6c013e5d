"""The KPI drill-downs, declared on the registry (portal/reports): one report per KPI of the dashboard.

Each report counts the month's rows of one KPI in one grouped query (by execution state, by survey
result, by event kind, by case manager, by plan timeliness); every number opens the rows behind it
on `/reports/<code>/rows` with the same month, with its export. The row queries are those of
`kpis/queries.py`, so a figure on the dashboard and the list behind it cannot disagree. Rows of
patients are scoped: a case manager sees their own, casemgmt.view_all sees all.
"""

from __future__ import annotations

from datetime import date

from flask import current_app, has_app_context
from sqlalchemy import BigInteger, and_, case, cast, distinct, exists, false, func, literal, or_, select
from sqlalchemy.orm import selectinload

from portal.io.export import Column as Shown
from portal.reports.registry import Choice, Column, Drill, Report, Rollup, register

from .. import KPI
from ..feedback.services import scope_events
from ..ledger import summary
from ..models import (
    EVENT_KINDS,
    AdverseEvent,
    CareTask,
    Enrolment,
    LedgerEntry,
    LedgerMonth,
    LedgerPatientMonths,
    Plan,
    SatisfactionSurvey,
)
from ..reports import _ledger_url, _summary_rows, manager_names
from ..scoping import scope_patients, scope_to_manager, sees_all
from . import queries as kpis

SATISFIED = {"1": "满意", "0": "不满意"}
TIMELINESS = {"1": "逾期下达", "0": "按时下达"}
YES_NO = {"1": "是", "0": "否"}


def _dashboard(params) -> tuple[str, str]:
    from flask import url_for

    return "返回指标看板", url_for("casemgmt.kpi_dashboard", month=f"{_month(params):%Y-%m}")


COMMON = {"permission": KPI, "back": _dashboard, "sees_everything": sees_all, "department_filter": False,
          "group": "个案管理指标", "empty": "本月没有可统计的记录。"}


def _month(params) -> date:
    return (params.month or params.start).replace(day=1)


def _everyone(stmt, user, permission):
    """Figures that name no patient (plans, staffing): every holder of the KPI permission sees all of them."""
    return stmt


def _choice(value, choices) -> str:
    if value is None or value == "":
        return ""
    if value not in choices:
        raise ValueError(value)  # the registry answers 400
    return value


def _manager(row) -> str:
    return row.case_manager.display_name if row.case_manager else "（未分配）"


# --- pathway execution -------------------------------------------------------------------------------------------

def _state_expression(params):
    start, end = kpis.execution_period(_month(params))
    whens = [(kpis._state_condition(code, start, end), literal(code)) for code in ("ontime", "late", "unreached")]
    return case(*whens, else_=literal("open"))


def _execution_query(params):
    start, end = kpis.execution_period(_month(params))
    state = _state_expression(params).label("state")
    stmt = select(state, func.count(CareTask.id).label("tasks")).where(*kpis._execution_where(start, end))
    order = case({code: i for i, code in enumerate(kpis.EXECUTION_STATES)}, value=state)
    if end < start:  # the first day of the month in progress: no window has closed yet
        stmt = stmt.where(false())
    return stmt.group_by(state).order_by(func.min(order))


def _execution_rows(params, keys):
    return kpis.execution_query(_month(params), _choice(keys.get("state"), kpis.EXECUTION_STATES))


EXECUTION_COLUMNS = (
    Shown("患者", lambda t: t.patient.masked_name, 10),
    Shown("路径步骤", lambda t: t.title, 24),
    Shown("服务类型", lambda t: t.task_type_label, 12),
    Shown("应完成日期", lambda t: t.first_due_date, 12),
    Shown("窗口截止日", lambda t: t.window_end, 12),
    Shown("完成时间", lambda t: t.completed_at, 18),
    Shown("服务结果", lambda t: t.outcome_label or t.status_label, 14),
    Shown("判定", lambda t: kpis.EXECUTION_STATES[kpis.execution_state(t)], 10),
    Shown("个案管理师", _manager, 12),
)
EXECUTION_DRILL = Drill(rows=_execution_rows, columns=EXECUTION_COLUMNS, title="管理路径执行率明细",
                        sort=kpis.SORTS["execution"],
                        sort_headers={"应完成日期": "due", "窗口截止日": "window_end", "完成时间": "completed"})

EXECUTION = register(Report(
    code="cm_kpi_execution", title="管理路径执行率",
    query=_execution_query,
    columns=(Column("state", "判定", fmt="text", labels=kpis.EXECUTION_STATES, width=14),
             Column("tasks", "应完成步骤", drill=EXECUTION_DRILL)),
    definition=("管理路径生成的任务中，窗口截止日在本月内、且未取消的为应完成步骤；结果为“已完成（联系上）”或“患者拒绝”、"
                "且完成时间（北京时间）的日期不晚于窗口截止日的为按时完成。执行率 = 按时完成步骤数 ÷ 应完成步骤数。"
                "本月尚未结束时，只统计窗口截止日在昨天及以前的步骤。个案管理师只统计本人的任务。"),
    scope=lambda stmt, user, permission: scope_to_manager(stmt, CareTask.case_manager_id, user),
    summary="本月应完成的路径步骤按判定（按时、超窗、未完成、多次未联系上）", **COMMON))


# --- satisfaction -------------------------------------------------------------------------------------------------

def _satisfied_expression():
    return case((kpis._survey_total() >= kpis.SATISFIED_TOTAL, literal("1")), else_=literal("0"))


def _satisfaction_query(params):
    satisfied = _satisfied_expression().label("satisfied")
    return (select(satisfied, func.count(SatisfactionSurvey.id).label("surveys"))
            .group_by(satisfied).order_by(satisfied.desc()))


def _satisfaction_rows(params, keys):
    return kpis.survey_query(_month(params), _choice(keys.get("satisfied"), SATISFIED))


SATISFACTION_COLUMNS = (
    Shown("患者", lambda s: s.patient.masked_name, 10),
    Shown("调查月份", lambda s: f"{s.survey_month:%Y-%m}", 10),
    Shown("服务及时性", lambda s: s.timeliness, 10),
    Shown("服务有效性", lambda s: s.effectiveness, 10),
    Shown("服务态度", lambda s: s.attitude, 10),
    Shown("平均分", lambda s: round(s.mean, 2), 8, "0.00"),
    Shown("是否满意", lambda s: "满意" if s.is_satisfied else "不满意", 10),
    Shown("意见与建议", lambda s: s.comment, 30),
    Shown("登记时间", lambda s: s.created_at, 18),
)
SATISFACTION_DRILL = Drill(rows=_satisfaction_rows, columns=SATISFACTION_COLUMNS, title="满意度调查明细",
                           sort=kpis.SORTS["satisfaction"], sort_headers={"平均分": "score", "登记时间": "created"})

SATISFACTION = register(Report(
    code="cm_kpi_satisfaction", title="服务对象满意度",
    query=_satisfaction_query,
    columns=(Column("satisfied", "是否满意", fmt="text", labels=SATISFIED),
             Column("surveys", "调查份数", drill=SATISFACTION_DRILL)),
    definition=("调查月份为本月的满意度调查中，服务及时性、服务有效性、服务态度三项评分（1–5 分）"
                "的平均分 ≥ 4 分的为满意。满意度 = 满意份数 ÷ 本月调查总份数。个案管理师只统计本人负责患者的调查。"),
    date_column=SatisfactionSurvey.survey_month,
    scope=lambda stmt, user, permission: scope_patients(stmt, SatisfactionSurvey.patient_id, user),
    summary="本月满意度调查的满意与不满意份数", **COMMON))


# --- adverse events and complaints ------------------------------------------------------------------------------

def _events_query(params):
    order = case({code: i for i, code in enumerate(EVENT_KINDS)}, value=AdverseEvent.kind, else_=len(EVENT_KINDS))
    return (select(AdverseEvent.kind.label("kind"), func.count(AdverseEvent.id).label("events"))
            .group_by(AdverseEvent.kind).order_by(func.min(order)))


def _event_rows(params, keys):
    return kpis.event_query(_month(params), _choice(keys.get("kind"), EVENT_KINDS))


EVENT_COLUMNS = (
    Shown("发生日期", lambda e: e.occurred_on, 12),
    Shown("类别", lambda e: e.kind_label, 10),
    Shown("严重程度", lambda e: e.severity_label, 10),
    Shown("患者", lambda e: e.patient.masked_name if e.patient else "未关联患者", 10),
    Shown("个案管理师", _manager, 12),
    Shown("状态", lambda e: e.status_label, 10),
    Shown("事件经过", lambda e: e.description, 40),
    Shown("处理情况", lambda e: e.handling, 30),
)
EVENTS_DRILL = Drill(rows=_event_rows, columns=EVENT_COLUMNS, title="不良事件与投诉明细", sort=kpis.SORTS["events"],
                     sort_headers={"发生日期": "occurred", "类别": "kind"})

EVENTS = register(Report(
    code="cm_kpi_events", title="不良事件（含服务投诉）",
    query=_events_query,
    columns=(Column("kind", "类别", fmt="text", labels=EVENT_KINDS), Column("events", "条数", drill=EVENTS_DRILL)),
    definition=("发生日期在本月的不良事件与服务投诉条数；发生率 = 条数 ÷ 本月服务患者数（见“服务患者数”）。"
                "个案管理师只统计本人负责或本人登记的事件。"),
    date_column=AdverseEvent.occurred_on, scope=lambda stmt, user, permission: scope_events(stmt, user),
    summary="本月不良事件与服务投诉按类别", **COMMON))


# --- patients served, per case manager ----------------------------------------------------------------------------

def _served_summary(params, user):
    """The same table from the ledger's monthly summaries (periods of two or more whole months)."""
    rows = _summary_rows(params, user, ("case_manager_id",))
    manager = func.nullif(rows.c.case_manager_id, 0)  # 0 in the summaries: no case manager
    return (select(manager.label("case_manager_id"), func.count(distinct(rows.c.patient_id)).label("patients"),
                   cast(func.sum(rows.c.services), BigInteger).label("services"))
            .group_by(manager).order_by(func.sum(rows.c.services).desc(), manager))


SERVED = register(Report(
    code="cm_kpi_served", title="服务患者数（按个案管理师）",
    query=lambda params: (select(LedgerEntry.case_manager_id.label("case_manager_id"),
                                 func.count(distinct(LedgerEntry.patient_id)).label("patients"),
                                 func.count(LedgerEntry.id).label("services"))
                          .group_by(LedgerEntry.case_manager_id)
                          .order_by(func.count(LedgerEntry.id).desc(), LedgerEntry.case_manager_id)),
    columns=(Column("case_manager_id", "个案管理师", fmt="text", labels=manager_names, blank="（未记录个案管理师）",
                    key_type=int, width=16),
             Column("patients", "本月服务患者", total="query",
                    drill=Drill(url=_ledger_url(case_manager_id="case_manager_id"))),
             Column("services", "本月服务人次", drill=Drill(url=_ledger_url(case_manager_id="case_manager_id")))),
    definition=("服务台账中服务日期在本月的不同患者人数（同一患者本月多次服务计 1 人；合计行按全部记录重新去重）。"
                "按合同约定，各项考核指标均以考核期内服务总人数为标准，本数为不良事件发生率的分母。"
                "个案管理师只统计本人的服务。"),
    date_column=LedgerEntry.service_date,
    scope=lambda stmt, user, permission: scope_to_manager(stmt, LedgerEntry.case_manager_id, user),
    summary="本月各个案管理师服务的患者数与人次", rollup=Rollup(_served_summary), **COMMON))


# --- workload -------------------------------------------------------------------------------------------------------

def norm() -> int:
    return current_app.config["CASELOAD_NORM"] if has_app_context() else 0


def _caseload():
    from portal.auth.models import User

    return (select(func.count(Enrolment.id)).where(Enrolment.case_manager_id == User.id, Enrolment.status == "active")
            .correlate(User).scalar_subquery())


def _ledger_per_manager(params):
    """Per case manager with a service in the period: distinct patients and services, from the ledger in one
    grouped pass (the same shape as the summaries' _summed_per_manager)."""
    return (select(LedgerEntry.case_manager_id, func.count(distinct(LedgerEntry.patient_id)).label("patients"),
                   func.count(LedgerEntry.id).label("services"))
            .where(LedgerEntry.service_date.between(params.start, params.end))
            .group_by(LedgerEntry.case_manager_id).subquery("workload_ledger"))


def _workload_query(params, summed=None):
    """One row per case manager (an active one, one with patients in care, or one who served in the period).

    summed: the period's patients and services per case manager, from the summaries (_summed_per_manager, the
    rollup) or, by default, from the ledger (_ledger_per_manager); the rows and numbers are the same.
    """
    from portal.auth.models import Role, User, user_roles

    case_manager = exists().where(user_roles.c.user_id == User.id, user_roles.c.role_id == Role.id,
                                  Role.code == "case_manager")
    has_load = exists().where(Enrolment.case_manager_id == User.id, Enrolment.status == "active")
    if summed is None:
        summed = _ledger_per_manager(params)
    patients = func.coalesce(summed.c.patients, 0)
    services = cast(func.coalesce(summed.c.services, 0), BigInteger)
    served = summed.c.case_manager_id.is_not(None)
    caseload = _caseload()
    stmt = select(User.id.label("case_manager_id"), caseload.label("caseload"), patients.label("patients"),
                  services.label("services"),
                  case((caseload > norm(), literal("1")), else_=literal("0")).label("over_norm"))
    stmt = stmt.select_from(User).outerjoin(summed, summed.c.case_manager_id == User.id)
    return stmt.where(or_(and_(case_manager, User.is_active_flag), has_load, served)).order_by(caseload.desc(), User.id)


def _summed_per_manager(params):
    """Per case manager with a service in the period (whole months): the distinct patients (those with a served
    month in ledger_patient_months) and the services (ledger_months), each grouped once, not once per user."""
    pairs = (select(LedgerPatientMonths.case_manager_id, LedgerPatientMonths.patient_id)
             .where(summary.months_between(params.start, params.end), LedgerPatientMonths.case_manager_id != 0)
             .group_by(LedgerPatientMonths.case_manager_id, LedgerPatientMonths.patient_id)
             .subquery("served_pairs"))  # hashed once per (manager, patient): cheaper than count(DISTINCT)
    patients = (select(pairs.c.case_manager_id, func.count().label("patients"))
                .group_by(pairs.c.case_manager_id).subquery("patients_summed"))
    services = (select(LedgerMonth.case_manager_id, func.sum(LedgerMonth.services).label("services"))
                .where(LedgerMonth.month.between(params.start, params.end), LedgerMonth.case_manager_id != 0)
                .group_by(LedgerMonth.case_manager_id).subquery("services_summed"))
    return (select(services.c.case_manager_id, patients.c.patients, services.c.services)
            .outerjoin(patients, patients.c.case_manager_id == services.c.case_manager_id)
            .subquery("workload_summed"))


def _workload_summary(params, user):
    """The workload table for whole months from the summaries (no scope: every holder sees all; the filter)."""
    stmt = _workload_query(params, _summed_per_manager(params))
    if params.options.get("over"):
        stmt = _over(stmt, params.options["over"])
    return stmt


def _over(stmt, value: str):
    return stmt.where(_caseload() > norm())


def _workload_note(result) -> str:
    over = sum(1 for row in result.rows if row.get("over_norm") == "1")
    return f"配置标准 1 : {norm()}；当前单人在管超过定额 {over} 名。"


WORKLOAD = register(Report(
    code="cm_kpi_workload", title="个案管理师工作量",
    query=_workload_query,
    columns=(Column("case_manager_id", "个案管理师", fmt="text", labels=manager_names, key_type=int, width=16),
             Column("caseload", "当前在管患者"),
             Column("patients", "本月服务患者", drill=Drill(url=_ledger_url(case_manager_id="case_manager_id"))),
             Column("services", "本月服务人次", drill=Drill(url=_ledger_url(case_manager_id="case_manager_id"))),
             Column("over_norm", "超过定额", fmt="text", labels=YES_NO, width=10)),
    filters=(Choice("over", "工作量", {"1": "只看超过定额的"}, apply=_over, blank="全部个案管理师"),),
    definition=("当前在管患者数（状态为管理中的入组）÷ 在岗个案管理师人数，与配置标准比较；单人当前在管超过定额的标出。"
                "在管人数为当前数（不随所选月份变化）；服务患者、服务人次取所选月份的服务台账。"),
    scope=_everyone, note=_workload_note, rollup=Rollup(_workload_summary),
    summary="每位个案管理师的在管患者、本月服务与是否超过定额", **COMMON))


# --- late plans -----------------------------------------------------------------------------------------------------

def _late_query(params):
    late = case((Plan.is_late.is_(True), literal("1")), else_=literal("0")).label("late")
    return select(late, func.count(Plan.id).label("plans")).group_by(late).order_by(late.desc())


def _late_rows(params, keys):
    value = _choice(keys.get("late"), TIMELINESS)
    stmt = select(Plan).where(Plan.is_late.is_(value == "1")) if value else select(Plan)
    return stmt.options(selectinload(Plan.items))


LATE_COLUMNS = (
    Shown("计划日期", lambda p: p.plan_date, 12),
    Shown("首次提交", lambda p: p.first_submitted_at, 18),
    Shown("最后提交", lambda p: p.last_submitted_at, 18),
    Shown("修订次数", lambda p: p.revision, 10),
    Shown("逾期条目数", lambda p: sum(1 for item in p.items if item.is_late), 12),
)
LATE_DRILL = Drill(rows=_late_rows, columns=LATE_COLUMNS, title="逾期下达的次日服务计划",
                   sort=kpis.SORTS["late_plans"], sort_headers={"计划日期": "date", "最后提交": "submitted"})

LATE_PLANS = register(Report(
    code="cm_kpi_late_plans", title="次日计划逾期下达",
    query=_late_query,
    columns=(Column("late", "下达", fmt="text", labels=TIMELINESS), Column("plans", "计划天数", drill=LATE_DRILL)),
    definition=("计划日期在本月的次日服务计划中，有内容在前一日 17:00 之后提交（逾期）的天数；分母为本月有计划的天数。"
                "此为医院下达计划的及时性，不计入考核建议分。"),
    date_column=Plan.plan_date, scope=_everyone,
    summary="本月次日服务计划按时与逾期下达的天数", **COMMON))


# The dashboard's KPI code -> (report, its drill-down column or None for the report page, the dimension filtered)
KPI_REPORTS = {
    "execution": (EXECUTION, "tasks", "state"),
    "satisfaction": (SATISFACTION, "surveys", "satisfied"),
    "events": (EVENTS, "events", "kind"),
    "late_plans": (LATE_PLANS, "plans", "late"),
    "served": (SERVED, None, None),
    "workload": (WORKLOAD, None, "over"),
}
# The old drill-down filters that became a dimension of the report (?state=late -> &k_state=late).
OLD_FILTERS = {"execution": ("state", kpis.EXECUTION_STATES), "satisfaction": ("satisfied", SATISFIED),
               "events": ("kind", EVENT_KINDS), "workload": ("over", {"1": "只看超过定额的"})}


def drill_args(kpi: str, month: str, filters: dict | None = None) -> tuple[str, dict]:
    """The registry endpoint and arguments of one KPI's rows for a month, with the dashboard's filters."""
    report, column, key = KPI_REPORTS[kpi]
    filters = dict(filters or {})
    if column is None:
        args = {"code": report.code, "month": month}
        if key and filters.get(key):
            args[key] = filters[key]
        return "reports.show_report", args
    args = {"code": report.code, "month": month, "column": column}
    if kpi == "late_plans":
        args["k_late"] = "1"  # the KPI counts the late plans
    elif key and filters.get(key):
        args[f"k_{key}"] = filters[key]
    if filters.get("sort"):
        args["sort"] = filters["sort"]
    return "reports.drill_rows", args


def drill_url(kpi: str, month: str, **filters) -> str:
    from flask import url_for

    endpoint, args = drill_args(kpi, month, filters)
    return url_for(endpoint, **args)
