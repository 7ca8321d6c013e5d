"""Home panel: new-technology progress reports due within 30 days or overdue, for the user's projects."""

from __future__ import annotations

from flask import url_for

from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import format_date, local_today
from portal.extensions import db

from .. import NEWTECH
from . import services


def build(user) -> PanelContent:
    """Reports due soon (and overdue) with links to their projects."""
    today = local_today()
    reports = db.session.scalars(services.due_reports_query(user, today).limit(MAX_ROWS + 1)).all()
    rows = []
    for report in reports[:MAX_ROWS]:
        late = report.due_date < today
        rows.append(Row(f"{report.project.name}：{report.title}",
                        url_for("catalogue.view_newtech", project_id=report.project_id),
                        meta=f"应交 {format_date(report.due_date)}", badge="已超期" if late else "待提交",
                        state="bad" if late else "warn"))
    overdue = sum(1 for r in reports if r.due_date < today)
    content = PanelContent(
        figures=[Figure("30 天内应交", len(reports) if len(reports) <= MAX_ROWS else f"{MAX_ROWS}+",
                        url_for("catalogue.list_newtech", due="due")),
                 Figure("已超期", overdue, url_for("catalogue.list_newtech", due="overdue"), "bad" if overdue else "")],
        rows=rows, more_url=url_for("catalogue.list_newtech", status="trial"), more_label="试用期中的新技术")
    if not rows:
        content.empty = "近 30 天没有应交的新技术进展报告。"
    return content


REPORTS_PANEL = Panel("catalogue.newtech_reports", "新技术进展报告", NEWTECH, "list", build, order=45,
                      phone_priority=5)

register(REPORTS_PANEL)
