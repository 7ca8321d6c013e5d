"""Home panel: open restricted-technology filings with their working days left."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import case, func, select

from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import format_date, local_today
from portal.extensions import db

from .. import VIEW
from ..models import RestrictedFiling
from ..models.filings import URGENT_DAYS
from . import services


def build(user) -> PanelContent:
    """Open and overdue counts (linking to the tracker) and the nearest deadlines."""
    today = local_today()
    open_stmt = services.list_query(user.principal, today=today).where(RestrictedFiling.status != "filed")
    scoped = open_stmt.order_by(None).subquery()
    total, overdue = db.session.execute(select(
        func.count(scoped.c.id), func.coalesce(func.sum(case((scoped.c.deadline < today, 1), else_=0)), 0))).one()
    rows = []
    nearest = db.session.scalars(open_stmt.limit(MAX_ROWS)).all()
    calendar = services.calendar_for(nearest, today)
    for filing in nearest:
        left = services.days_left(filing, today, calendar)
        state = "bad" if left <= URGENT_DAYS else "wait"
        badge = f"已超期 {-left} 个工作日" if left < 0 else f"剩余 {left} 个工作日"
        rows.append(Row(f"{filing.technology.name}（{filing.department.name}）",
                        url_for("catalogue.view_filing", filing_id=filing.id),
                        meta=f"备案期限 {format_date(filing.deadline)}", badge=badge, state=state))
    content = PanelContent(
        figures=[Figure("待备案", int(total), url_for("catalogue.list_filings")),
                 Figure("已超期", int(overdue), url_for("catalogue.list_filings", overdue="1"),
                        "bad" if overdue else "")],
        rows=rows, more_url=url_for("catalogue.list_filings"), more_label="全部备案")
    if not rows:
        content.empty = "没有待备案的限制类技术。首例开展后请在“限制类技术备案”中登记。"
    return content


FILINGS_PANEL = Panel("catalogue.filings", "限制类技术备案", VIEW, "list", build, order=40, phone_priority=4)

register(FILINGS_PANEL)
