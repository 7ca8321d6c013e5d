"""Home panel of the catalogue for medical affairs: this month's changes and the entries disabled."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import format_date, local_day_bounds, local_today
from portal.extensions import db

from . import MANAGE
from .models import Technology, TechnologyRevision
from .technologies import queries


def build_changes(user) -> PanelContent:
    """Entries changed since the first of the month and entries disabled (each linking to the list of exactly
    those), and the latest changes."""
    first = local_today().replace(day=1)
    since = local_day_bounds(first)[0]
    filters = queries.Filters(changed_from=first)
    changed = queries.count_rows_of(queries.list_query(filters))
    disabled = queries.count_status("disabled")
    latest = db.session.execute(
        select(TechnologyRevision.technology_id, TechnologyRevision.revision, TechnologyRevision.valid_from,
               TechnologyRevision.reason, Technology.code, Technology.name)
        .join(Technology, Technology.id == TechnologyRevision.technology_id)
        .where(TechnologyRevision.valid_from >= since)
        .order_by(TechnologyRevision.valid_from.desc(), TechnologyRevision.id.desc()).limit(MAX_ROWS)).all()
    content = PanelContent(
        figures=[Figure("本月修订的条目", changed,
                        url_for("catalogue.list_technologies", changed_from=first.isoformat(), sort="-updated")),
                 Figure("已停用", disabled, url_for("catalogue.list_technologies", status="disabled"),
                        "off" if disabled else "")],
        rows=[Row(f"{r.code} {r.name}", url_for("catalogue.view_technology", technology_id=r.technology_id),
                  meta=f"第 {r.revision} 版 · {format_date(r.valid_from)} · {r.reason}") for r in latest],
        more_url=url_for("catalogue.list_technologies"), more_label="打开技术目录")
    if not latest:
        content.empty = "本月技术目录没有变动。可在技术目录中新增、修订条目，或导入医院手术字典。"
    return content


CHANGES = Panel("catalogue.changes", "技术目录变动", MANAGE, "list", build_changes, order=45, phone_priority=6)

register(CHANGES)
