"""Home panels of case management: a case manager's day, the supervisor's overview, open events, the KPIs."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from portal.core import months
from portal.core.panels import Bar, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import format_date, local_today
from portal.extensions import db

from . import ASSIGN, EVENTS, KPI, TASKS
from .feedback.services import scope_events
from .kpis import queries as kpis
from .kpis.reports import drill_url
from .models import AdverseEvent
from .tasks import queries as task_queries

SHOWN = 3
SERIOUS = ("severe", "critical")
TARGET_STATE = {True: "ok", False: "bad", None: ""}


def build_my_day(user) -> PanelContent:
    """Today's list of the signed-in case manager: open, overdue and done, each linking to those tasks."""
    counts = task_queries.day_counts(local_today(), user.id, user)
    tasks_url = url_for("casemgmt.list_tasks")
    content = PanelContent(
        figures=[Figure("待完成", counts.open, url_for("casemgmt.list_tasks", status="open"),
                        "wait" if counts.open else ""),
                 Figure("逾期未完成", counts.overdue,
                        url_for("casemgmt.list_tasks", status="open", _anchor="group-overdue"),
                        "bad" if counts.overdue else "", hint="结转自前几日，排在清单最前"),
                 Figure("今日已完成", counts.done, url_for("casemgmt.list_tasks", status="done"),
                        "ok" if counts.done else "")],
        action_url=tasks_url, action_label="打开今日任务清单")
    if not counts.total:
        content.empty = ("今天的任务清单是空的。每天 17:05 按医院下达的次日服务计划生成清单；"
                         "临时服务请在服务台账中登记。")
    return content


def build_team_day(user) -> PanelContent:
    """Today's lists of all case managers at a glance: open, overdue, and tasks nobody has been given."""
    # Totals only: the numbers per case manager id, without reading who the managers are.
    numbers = task_queries.day_numbers(local_today())
    open_tasks = sum(n[0] for n in numbers.values())
    overdue = sum(n[2] for n in numbers.values())
    unassigned = numbers.get(None, (0, 0, 0))[0]
    overview_url = url_for("casemgmt.task_overview")
    content = PanelContent(
        figures=[Figure("待完成", open_tasks, overview_url, ""),
                 Figure("逾期未完成", overdue, overview_url, "bad" if overdue else ""),
                 Figure("未分派", unassigned, overview_url, "warn" if unassigned else "",
                        hint="没有个案管理师覆盖其病区")],
        more_url=overview_url, more_label="打开任务分派")
    if not any(n[0] + n[1] for n in numbers.values()):
        content.empty = "今天还没有任务。可在“任务分派”中按次日服务计划生成任务清单。"
    return content


def build_events(user) -> PanelContent:
    """Adverse events and complaints not yet closed (the user's own unless they see all), serious ones listed."""
    unclosed = AdverseEvent.status != "closed"
    by_status = dict(db.session.execute(scope_events(
        select(AdverseEvent.status, func.count()).where(unclosed).group_by(AdverseEvent.status), user)).all())
    # The serious ones are among the unclosed: none counted (most users, most days), none to list.
    serious = db.session.scalars(scope_events(
        select(AdverseEvent).where(unclosed, AdverseEvent.severity.in_(SERIOUS)), user)
        .order_by(AdverseEvent.occurred_on.desc(), AdverseEvent.id.desc()).limit(SHOWN)).all() if by_status else []
    content = PanelContent(
        figures=[Figure("待处理", by_status.get("open", 0), url_for("casemgmt.list_events", status="open"),
                        "bad" if by_status.get("open") else ""),
                 Figure("处理中", by_status.get("handling", 0), url_for("casemgmt.list_events", status="handling"),
                        "wait" if by_status.get("handling") else "")],
        rows=[Row(f"{e.kind_label}：{e.patient.masked_name if e.patient else '未关联患者'}",
                  url_for("casemgmt.view_event", event_id=e.id), meta=f"发生于 {format_date(e.occurred_on)}",
                  badge=e.severity_label, state="bad") for e in serious],
        more_url=url_for("casemgmt.list_events"), more_label="全部不良事件与投诉")
    if not sum(by_status.values()):
        content.empty = "没有未关闭的不良事件或投诉。发生时请在“不良事件与投诉”中登记。"
    return content


def _kpi_figure(kpi: kpis.Kpi, url: str) -> Figure:
    return Figure(kpi.label, kpi.display, url, TARGET_STATE[kpi.met], hint=f"目标 {kpi.target_label}")


def build_kpis(user) -> PanelContent:
    """The month so far: pathway execution and satisfaction against their targets, each linking to its rows."""
    month = months.current_month()
    m = months.month_text(month)
    execution, satisfaction = kpis.kpi_for("execution", month), kpis.kpi_for("satisfaction", month)
    open_steps = next(p.count for p in execution.parts if p.filters.get("state") == "open")
    unhappy = satisfaction.denominator - satisfaction.numerator
    content = PanelContent(
        figures=[_kpi_figure(execution, drill_url("execution", m)),
                 Figure("未完成步骤", open_steps, drill_url("execution", m, state="open"),
                        "bad" if open_steps else ""),
                 _kpi_figure(satisfaction, drill_url("satisfaction", m)),
                 Figure("不满意", unhappy, drill_url("satisfaction", m, satisfied="0"),
                        "warn" if unhappy else "")],
        note=f"{months.month_label(month)}，路径执行率只统计窗口截止日在昨天及以前的步骤。",
        more_url=url_for("casemgmt.kpi_dashboard", month=m), more_label="打开指标看板")
    if not execution.denominator and not satisfaction.denominator:
        content.empty = "本月还没有可统计的步骤或满意度调查；完成任务并记录结果后，这里会显示本月指标。"
    return content


def build_execution_chart(user) -> PanelContent:
    """The month's pathway steps by state, as bars; each bar links to those steps."""
    month = months.current_month()
    m = months.month_text(month)
    execution = kpis.kpi_for("execution", month)
    states = {"ontime": "ok", "late": "warn", "open": "bad", "unreached": "off"}
    content = PanelContent(
        bars=[Bar(p.label, p.count, drill_url("execution", m, **p.filters),
                  states.get(p.filters.get("state", ""), "")) for p in execution.parts],
        note=f"{months.month_label(month)}应完成 {execution.denominator or 0} 步。")
    if not execution.denominator:
        content.bars = []
        content.empty = "本月还没有到期的路径步骤。"
    return content


MY_DAY = Panel("casemgmt.my_day", "今日任务", TASKS, "count", build_my_day, order=5, phone_priority=2,
               hidden_with=ASSIGN)
TEAM_DAY = Panel("casemgmt.team_day", "今日任务概况", ASSIGN, "count", build_team_day, order=35, phone_priority=4)
EVENTS_OPEN = Panel("casemgmt.events", "不良事件与投诉", EVENTS, "list", build_events, order=40, phone_priority=4)
KPI_SUMMARY = Panel("casemgmt.kpis", "本月个案管理指标", KPI, "count", build_kpis, order=60, phone_priority=8)
EXECUTION_CHART = Panel("casemgmt.execution", "本月路径步骤执行情况", KPI, "chart", build_execution_chart, order=70,
                        phone_priority=9)

register(MY_DAY)
register(TEAM_DAY)
register(EVENTS_OPEN)
register(KPI_SUMMARY)
register(EXECUTION_CHART)
