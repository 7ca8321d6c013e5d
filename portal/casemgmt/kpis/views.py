"""The monthly KPI dashboard and its drill-downs; the monthly assessment (月度考核) and its sheet."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask import abort, current_app, has_request_context, request
from flask_login import current_user

from portal.core import months
from portal.core.listing import Page, arg_choice, arg_int, paginate, parse_sort, past_month
from portal.core.permissions import require
from portal.core.rendering import render, wants_partial
from portal.io.export import Column, export_query, export_rows

from .. import KPI, bp
from ..assessment import services as assessments
from ..models import EVENT_KINDS
from ..scoping import sees_all
from . import queries as kpis

SATISFIED = {"1": "满意", "0": "不满意"}
OVER = {"1": "只看超过定额的"}
DETAIL_ENDPOINTS = ("casemgmt.kpi_detail", "casemgmt.export_kpi_detail")
LEDGER_ENDPOINT = "casemgmt.list_ledger"  # per case manager figures link to their ledger rows


@dataclass(frozen=True)
class Drill:
    """One KPI's drill-down, declared: its rows are an ORM query (sortable) or the per-case-manager table."""

    title: str
    columns: Callable[[date], list[Column]]
    filter: tuple[str, str, dict] | None = None  # (argument, Chinese label, choices)
    query: Callable[[date, str, object], object] | None = None  # (month, filter value, viewer) -> select
    managers: Callable[[list, str], list] | None = None  # (per-manager rows, filter value) -> shown rows
    patient_rows: bool = False  # rows of patients: scoped to the viewer

@bp.url_defaults
def _keep_kpi(endpoint: str, values: dict) -> None:
    # The shared list macros (filter bar, pager, sort headers, export link) build URLs from the endpoint
    # alone; on a drill-down page they mean the same KPI.
    if endpoint in DETAIL_ENDPOINTS and "kpi" not in values and has_request_context() \
            and request.endpoint in DETAIL_ENDPOINTS and "kpi" in (request.view_args or {}):
        values["kpi"] = request.view_args["kpi"]


def _month_arg() -> date:
    return past_month(request.args.get("month", "").strip())


# --- dashboard -----------------------------------------------------------------------------------------------

@bp.route("/kpis")
@require(KPI)
def kpi_dashboard():
    """The month's KPIs, each with its definition, target, last month and a link to its rows."""
    month = _month_arg()
    data = kpis.month_kpis(month)
    this_month = months.current_month()
    return render("casemgmt/kpis/kpi_dashboard.html", data=data, month=month, m=months.month_text(month),
                  label=months.month_label(month), prev=months.month_text(months.previous_month(month)),
                  next=months.month_text(months.next_month(month)) if month < this_month else None,
                  max_month=months.month_text(this_month), proposal=assessments.proposal(month, data),
                  saved=assessments.get_assessment(month), rule=assessments.PROPOSAL_RULE)


# --- drill-downs ---------------------------------------------------------------------------------------------

def _filters(kpi: str) -> dict:
    declared = DRILLS[kpi].filter
    return {declared[0]: arg_choice(declared[0], declared[2])} if declared else {}


def _value(kpi: str, filters: dict) -> str:
    declared = DRILLS[kpi].filter
    return filters.get(declared[0], "") if declared else ""


def _entity_query(kpi: str, month: date, filters: dict, sort):
    return kpis.sorted_query(kpi, DRILLS[kpi].query(month, _value(kpi, filters), current_user), sort)


def _manager_rows(kpi: str, month: date, filters: dict) -> list[kpis.ManagerRow]:
    return DRILLS[kpi].managers(kpis.manager_rows(month), _value(kpi, filters))


def _page_of(rows: list, number: int, per_page: int) -> Page:
    pages = max(1, math.ceil(len(rows) / per_page))
    number = min(max(number, 1), pages)
    return Page(rows[(number - 1) * per_page:number * per_page], number, per_page, len(rows))


def _detail_context(kpi: str, month: date) -> dict:
    filters = _filters(kpi)
    args = {"month": months.month_text(month), **filters}
    ctx = {"kpi": kpi, "title": DRILLS[kpi].title, "month": month, "m": months.month_text(month),
           "label": months.month_label(month), "filters": filters, "args": args, "sort": None,
           "norm": current_app.config["CASELOAD_NORM"], "states": kpis.EXECUTION_STATES, "kinds": EVENT_KINDS,
           "satisfied_choices": SATISFIED, "scoped": DRILLS[kpi].patient_rows and not sees_all(current_user),
           "ledger_endpoint": LEDGER_ENDPOINT if LEDGER_ENDPOINT in current_app.view_functions else None}
    number, per_page = arg_int("page", 1), current_app.config["PAGE_SIZE"]
    if DRILLS[kpi].query is not None:
        allowed, default, _ = kpis.SORTS[kpi]
        ctx["sort"] = sort = parse_sort(allowed, default)
        args["sort"] = "" if sort.param == default else sort.param
        ctx["page"] = paginate(_entity_query(kpi, month, filters, sort), number, per_page)
    else:
        ctx["page"] = _page_of(_manager_rows(kpi, month, filters), number, per_page)
    if kpi == "late_plans":
        ctx["late_items"] = kpis.late_item_counts(month)
    if kpi == "execution":
        ctx["state_of"] = kpis.execution_state
    if not wants_partial():  # the header with the figure is not part of the list partial
        ctx["k"] = kpis.kpi_for(kpi, month)
    return ctx


@bp.route("/kpis/<kpi>")
@require(KPI)
def kpi_detail(kpi: str):
    """The rows behind one KPI of the month, filtered, paginated and exportable."""
    if kpi not in DRILLS:
        abort(404)
    ctx = _detail_context(kpi, _month_arg())
    return render("casemgmt/kpis/kpi_detail.html", f"casemgmt/kpis/_kpi_{kpi}_rows.html", **ctx)


def _manager_name(row) -> str:
    return row.case_manager.display_name if row.case_manager else "（未分配）"


def _execution_columns(month: date) -> list[Column]:
    return [
        Column("患者", lambda t: t.patient.masked_name, 10),
        Column("路径步骤", lambda t: t.title, 24),
        Column("服务类型", lambda t: t.task_type_label, 12),
        Column("应完成日期", lambda t: t.first_due_date, 12),
        Column("窗口截止日", lambda t: t.window_end, 12),
        Column("完成时间", lambda t: t.completed_at, 18),
        Column("服务结果", lambda t: t.outcome_label or t.status_label, 14),
        Column("判定", lambda t: kpis.EXECUTION_STATES[kpis.execution_state(t)], 10),
        Column("个案管理师", _manager_name, 12),
    ]


def _satisfaction_columns(month: date) -> list[Column]:
    return [
        Column("患者", lambda s: s.patient.masked_name, 10),
        Column("调查月份", lambda s: f"{s.survey_month:%Y-%m}", 10),
        Column("服务及时性", lambda s: s.timeliness, 10),
        Column("服务有效性", lambda s: s.effectiveness, 10),
        Column("服务态度", lambda s: s.attitude, 10),
        Column("平均分", lambda s: round(s.mean, 2), 8, "0.00"),
        Column("是否满意", lambda s: "满意" if s.is_satisfied else "不满意", 10),
        Column("意见与建议", lambda s: s.comment, 30),
        Column("登记时间", lambda s: s.created_at, 18),
    ]


def _event_columns(month: date) -> list[Column]:
    return [
        Column("发生日期", lambda e: e.occurred_on, 12),
        Column("类别", lambda e: e.kind_label, 10),
        Column("严重程度", lambda e: e.severity_label, 10),
        Column("患者", lambda e: e.patient.masked_name if e.patient else "未关联患者", 10),
        Column("个案管理师", _manager_name, 12),
        Column("状态", lambda e: e.status_label, 10),
        Column("事件经过", lambda e: e.description, 40),
        Column("处理情况", lambda e: e.handling, 30),
    ]


def _late_plan_columns(month: date) -> list[Column]:
    counts = kpis.late_item_counts(month)
    return [
        Column("计划日期", lambda p: p.plan_date, 12),
        Column("首次提交", lambda p: p.first_submitted_at, 18),
        Column("最后提交", lambda p: p.last_submitted_at, 18),
        Column("修订次数", lambda p: p.revision, 10),
        Column("逾期条目数", lambda p: counts.get(p.id, 0), 12),
    ]


def _manager_columns(workload: bool) -> Callable[[date], list[Column]]:
    def columns(month: date) -> list[Column]:
        shown = [Column("个案管理师", lambda r: r.name, 14)]
        if workload:
            shown.append(Column("当前在管患者", lambda r: r.caseload, 14))
        shown += [Column("本月服务患者", lambda r: r.patients, 14), Column("本月服务人次", lambda r: r.services, 14)]
        if workload:
            shown.append(Column("超过定额", lambda r: r.over_norm, 10))
        return shown

    return columns


# The drill-downs behind the dashboard's figures, by the KPI's code in the URL.
DRILLS: dict[str, Drill] = {
    "execution": Drill("管理路径执行率明细", _execution_columns, ("state", "判定", kpis.EXECUTION_STATES),
                       query=lambda month, state, viewer: kpis.execution_query(month, state, viewer),
                       patient_rows=True),
    "satisfaction": Drill("满意度调查明细", _satisfaction_columns, ("satisfied", "是否满意", SATISFIED),
                          query=lambda month, value, viewer: kpis.survey_query(month, value, viewer),
                          patient_rows=True),
    "events": Drill("不良事件与投诉明细", _event_columns, ("kind", "类别", EVENT_KINDS),
                    query=lambda month, kind, viewer: kpis.event_query(month, kind, viewer), patient_rows=True),
    "served": Drill("服务患者数（按个案管理师）", _manager_columns(False),
                    managers=lambda rows, _value: [r for r in rows if r.services]),
    "workload": Drill("个案管理师工作量", _manager_columns(True), ("over", "工作量", OVER),
                      managers=lambda rows, over: [r for r in rows if r.over_norm] if over else rows),
    "late_plans": Drill("逾期下达的次日服务计划", _late_plan_columns,
                        query=lambda month, _value, viewer: kpis.late_plans_query(month)),
}


def _shown_filters(kpi: str, month: date, filters: dict) -> dict:
    """The filters as the export's title line and audit record show them: in Chinese."""
    shown = {"月份": months.month_text(month)}
    declared = DRILLS[kpi].filter
    if declared and filters.get(declared[0]):
        shown[declared[1]] = declared[2][filters[declared[0]]]
    return shown


@bp.route("/kpis/<kpi>/export")
@require(KPI)
def export_kpi_detail(kpi: str):
    """One KPI's rows exactly as filtered (and scoped), as .xlsx."""
    if kpi not in DRILLS:
        abort(404)
    month = _month_arg()
    filters = _filters(kpi)
    name = f"{months.month_label(month)}{DRILLS[kpi].title}"
    shown = _shown_filters(kpi, month, filters)
    columns = DRILLS[kpi].columns(month)
    if DRILLS[kpi].query is not None:
        allowed, default, _ = kpis.SORTS[kpi]
        stmt = _entity_query(kpi, month, filters, parse_sort(allowed, default))
        return export_query(stmt, columns, name, shown, "casemgmt_kpi")
    # Per case manager: a handful of computed rows, written the way export_query writes a list.
    rows = _manager_rows(kpi, month, filters)
    return export_rows(rows, columns, name, shown, "casemgmt_kpi")
