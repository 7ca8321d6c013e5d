"""Home panel: the key projects in the user's scope with their execution rate and warnings (the phone view of a
department head's budgets)."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.templating import percent
from portal.extensions import db

from . import VIEW
from .execution.queries import dashboard_query, dashboard_rows


def build_execution(user) -> PanelContent:
    """Projects with warnings (count, linking to them) and the active projects, warned ones first."""
    principal = user.principal
    warned = db.session.scalar(select(func.count()).select_from(
        dashboard_query(principal, "active", warned=True).order_by(None).subquery())) or 0
    stmt = dashboard_query(principal, "active").order_by(None)
    items = dashboard_rows(stmt.order_by(func.coalesce(stmt.selected_columns.warnings, 0).desc(),
                                         stmt.selected_columns.spent.desc()).limit(MAX_ROWS))
    rows = []
    for item in items:
        project, fig = item["project"], item["figures"]
        state = "bad" if fig.over else ("warn" if item["warnings"] else "ok")
        rows.append(Row(f"{project.name}", url_for("budget.view_project", project_id=project.id),
                        meta=f"{project.department.name} · 已支出 ¥{fig.spent:,.2f} / 预算 ¥{fig.budget:,.2f}",
                        badge=f"执行率 {percent(fig.rate)}" + ("（有预警）" if item["warnings"] else ""), state=state))
    content = PanelContent(
        figures=[Figure("有预警的项目", int(warned), url_for("budget.dashboard", warned="1", status="active"),
                        "warn" if warned else "")],
        rows=rows, more_url=url_for("budget.dashboard"), more_label="全部重点项目")
    if not rows:
        content.empty = "没有执行中的重点项目。"
    return content


EXECUTION = Panel("budget.execution", "项目预算执行", VIEW, "list", build_execution, order=60, phone_priority=4)

register(EXECUTION)
