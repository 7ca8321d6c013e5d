"""The monthly KPI dashboard and its drill-downs; the monthly assessment (月度考核) and its sheet."""

from __future__ import annotations

import math
from datetime import date

from flask import abort, current_app, has_request_context, request
from flask_login import current_user

from portal.core import audit, months, nav
from portal.core.listing import Page, arg_choice, arg_int, paginate, parse_sort, past_month
from portal.core.permissions import require
from portal.core.rendering import render, wants_partial
from portal.io.export import Column, export_query, export_rows

from .. import KPI, bp
from ..assessment import services as assessments
from ..models import EVENT_KINDS
from ..scoping import sees_all
from . import queries as kpis

nav.add("个案管理", "指标看板", "casemgmt.kpi_dashboard", KPI, 80)
audit.register_entity("casemgmt_kpi", "个案管理指标")

TITLES = {
    "execution": "管理路径执行率明细",
    "satisfaction": "满意度调查明细",
    "events": "不良事件与投诉明细",
    "served": "服务患者数（按个案管理师）",
    "workload": "个案管理师工作量",
    "late_plans": "逾期下达的次日服务计划",
}
SATISFIED = {"1": "满意", "0": "不满意"}
OVER = {"1": "只看超过定额的"}
PATIENT_ROWS = ("execution", "satisfaction", "events")  # lists of patients' rows: scoped to the viewer
DETAIL_ENDPOINTS = ("casemgmt.kpi_detail", "casemgmt.export_kpi_detail")
LEDGER_ENDPOINT = "casemgmt.list_ledger"  # per case manager figures link to their ledger rows


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
    if kpi == "execution":
        return {"state": arg_choice("state", kpis.EXECUTION_STATES)}
    if kpi == "satisfaction":
        return {"satisfied": arg_choice("satisfied", SATISFIED)}
    if kpi == "events":
        return {"kind": arg_choice("kind", EVENT_KINDS)}
    if kpi == "workload":
        return {"over": arg_choice("over", OVER)}
    return {}


def _entity_query(kpi: str, month: date, filters: dict, sort):
    viewer = current_user
    if kpi == "execution":
        stmt = kpis.execution_query(month, filters["state"], viewer)
    elif kpi == "satisfaction":
        stmt = kpis.survey_query(month, filters["satisfied"], viewer)
    elif kpi == "events":
        stmt = kpis.event_query(month, filters["kind"], viewer)
    else:
        stmt = kpis.late_plans_query(month)
    return kpis.sorted_query(kpi, stmt, sort)


def _manager_rows(kpi: str, month: date, filters: dict) -> list[kpis.ManagerRow]:
    rows = kpis.manager_rows(month)
    if kpi == "served":
        return [r for r in rows if r.services]
    return [r for r in rows if r.over_norm] if filters.get("over") else rows


def _page_of(rows: list, number: int, per_page: int) -> Page:
    pages = max(1, math.ceil(len(rows) / per_page))
    number = min(max(number, 1), pages)
    return Page(rows[(number - 1) * per_page:number * per_page], number, per_page, len(rows))


def _detail_context(kpi: str, month: date) -> dict:
    filters = _filters(kpi)
    args = {"month": months.month_text(month), **filters}
    ctx = {"kpi": kpi, "title": TITLES[kpi], "month": month, "m": months.month_text(month),
           "label": months.month_label(month), "filters": filters, "args": args, "sort": None,
           "norm": current_app.config["CASELOAD_NORM"], "states": kpis.EXECUTION_STATES, "kinds": EVENT_KINDS,
           "satisfied_choices": SATISFIED, "scoped": kpi in PATIENT_ROWS and not sees_all(current_user),
           "ledger_endpoint": LEDGER_ENDPOINT if LEDGER_ENDPOINT in current_app.view_functions else None}
    number, per_page = arg_int("page", 1), current_app.config["PAGE_SIZE"]
    if kpi in kpis.SORTS:
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
    if kpi not in TITLES:
        abort(404)
    ctx = _detail_context(kpi, _month_arg())
    return render("casemgmt/kpis/kpi_detail.html", f"casemgmt/kpis/_kpi_{kpi}_rows.html", **ctx)


def _manager_name(row) -> str:
    return row.case_manager.display_name if row.case_manager else "（未分配）"


def _columns(kpi: str, month: date) -> list[Column]:
    if kpi == "execution":
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
    if kpi == "satisfaction":
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
    if kpi == "events":
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
    if kpi == "late_plans":
        counts = kpis.late_item_counts(month)
        return [
            Column("计划日期", lambda p: p.plan_date, 12),
            Column("首次提交", lambda p: p.first_submitted_at, 18),
            Column("最后提交", lambda p: p.last_submitted_at, 18),
            Column("修订次数", lambda p: p.revision, 10),
            Column("逾期条目数", lambda p: counts.get(p.id, 0), 12),
        ]
    columns = [Column("个案管理师", lambda r: r.name, 14)]
    if kpi == "workload":
        columns.append(Column("当前在管患者", lambda r: r.caseload, 14))
    columns += [Column("本月服务患者", lambda r: r.patients, 14), Column("本月服务人次", lambda r: r.services, 14)]
    if kpi == "workload":
        columns.append(Column("超过定额", lambda r: r.over_norm, 10))
    return columns


def _shown_filters(kpi: str, month: date, filters: dict) -> dict:
    """The filters as the export's title line and audit record show them: in Chinese."""
    labels = {"state": ("判定", kpis.EXECUTION_STATES), "satisfied": ("是否满意", SATISFIED),
              "kind": ("类别", EVENT_KINDS), "over": ("工作量", OVER)}
    shown = {"月份": months.month_text(month)}
    for key, value in filters.items():
        if value:
            label, choices = labels[key]
            shown[label] = choices[value]
    return shown


@bp.route("/kpis/<kpi>/export")
@require(KPI)
def export_kpi_detail(kpi: str):
    """One KPI's rows exactly as filtered (and scoped), as .xlsx."""
    if kpi not in TITLES:
        abort(404)
    month = _month_arg()
    filters = _filters(kpi)
    name = f"{months.month_label(month)}{TITLES[kpi]}"
    shown = _shown_filters(kpi, month, filters)
    columns = _columns(kpi, month)
    if kpi in kpis.SORTS:
        allowed, default, _ = kpis.SORTS[kpi]
        stmt = _entity_query(kpi, month, filters, parse_sort(allowed, default))
        return export_query(stmt, columns, name, shown, "casemgmt_kpi")
    # Per case manager: a handful of computed rows, written the way export_query writes a list.
    rows = _manager_rows(kpi, month, filters)
    return export_rows(rows, columns, name, shown, "casemgmt_kpi")
