"""Home panels of supervision: findings overdue for rectification, and those about to be, in the user's scope."""

from __future__ import annotations

from datetime import timedelta

from flask import url_for
from sqlalchemy import case, func, select

from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import format_date, local_today
from portal.extensions import db

from . import VIEW, services
from .models import Finding

SOON_DAYS = 7
TO_RECTIFY = ("issued", "rework")


def build_deadlines(user) -> PanelContent:
    """Overdue and to-rectify counts (linking to the filtered findings list) and the nearest deadlines.

    Both queries start from the findings list's own query, so the numbers and the list behind them share
    one scope rule and cannot disagree.
    """
    principal, today = user.principal, local_today()
    # Both figures count findings still to rectify: only those rows are read (ix_supervision_findings_open).
    scoped = services.list_query(principal).where(Finding.status.in_(TO_RECTIFY)).order_by(None).subquery()
    overdue, issued = db.session.execute(select(
        func.coalesce(func.sum(case((scoped.c.deadline < today, 1), else_=0)), 0),
        func.coalesce(func.sum(case((scoped.c.status == "issued", 1), else_=0)), 0))).one()
    near = db.session.scalars(services.list_query(principal).where(
        Finding.status.in_(TO_RECTIFY), Finding.deadline <= today + timedelta(days=SOON_DAYS)).limit(MAX_ROWS)).all()
    rows = []
    for finding in near:
        late = finding.deadline < today
        rows.append(Row(f"{finding.department.name}：{finding.title}",
                        url_for("supervision.view_finding", finding_id=finding.id),
                        meta=f"整改期限 {format_date(finding.deadline)}", badge="已超期" if late else "即将到期",
                        state="bad" if late else "warn"))
    content = PanelContent(
        figures=[Figure("整改已超期", int(overdue), url_for("supervision.list_findings", overdue="1"),
                        "bad" if overdue else ""),
                 Figure("待整改", int(issued), url_for("supervision.list_findings", status="issued"))],
        rows=rows, more_url=url_for("supervision.list_findings"), more_label="全部督导问题")
    if not rows:
        content.empty = f"没有已超期或 {SOON_DAYS} 天内到期的督导问题。"
    return content


DEADLINES = Panel("supervision.deadlines", "督导整改期限", VIEW, "list", build_deadlines, order=30, phone_priority=3)

register(DEADLINES)
