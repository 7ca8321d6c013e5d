"""Home panels of privileges: privileges ending soon, applications waiting, today's interception alerts (each
in the user's departments)."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import format_date, local_today
from portal.extensions import db

from .. import VIEW_PRIVILEGES
from ..models.privileges import STATE_BADGE, STATES
from . import queries

SOON_DAYS = 90


def _count(stmt) -> int:
    return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def build_expiring(user) -> PanelContent:
    """Active privileges ending within 90 days (the renewal list)."""
    today = local_today()
    stmt = queries.renewal_query(user.principal, today, SOON_DAYS)
    total = _count(stmt)
    rows = [Row(f"{p.staff.name}：{p.scope_label}", url_for("credentials.renew_privilege", record_id=p.id),
                meta=f"{p.staff.department.name}，{format_date(p.valid_to)} 到期", badge="即将到期", state="warn")
            for p in db.session.scalars(stmt.limit(MAX_ROWS))]
    content = PanelContent(figures=[Figure(f"{SOON_DAYS} 天内到期", total, url_for("credentials.list_renewals"),
                                           "warn" if total else "")],
                           rows=rows, more_url=url_for("credentials.list_renewals"), more_label="再授权清单")
    if not rows:
        content.empty = f"没有 {SOON_DAYS} 天内到期的授权。"
    return content


def build_pending(user) -> PanelContent:
    """Privilege applications and adjustments waiting for approval."""
    stmt = queries.pending_applications_query(user.principal)
    total = _count(stmt)
    rows = [Row(f"{p.staff.name}：{p.action_label} {p.scope_label}", url_for("credentials.view_privilege",
                                                                         record_id=p.id),
                meta=f"提交于 {format_date(p.created_at)}", badge=STATES[p.status], state=STATE_BADGE[p.status])
            for p in db.session.scalars(stmt.limit(MAX_ROWS))]
    content = PanelContent(figures=[Figure("审批中", total, url_for("credentials.list_privileges", state="pending"),
                                           "wait" if total else "")],
                           rows=rows, more_url=url_for("credentials.list_privileges", state="pending"),
                           more_label="全部申请")
    if not rows:
        content.empty = "没有审批中的授权申请。"
    return content


def build_alerts(user) -> PanelContent:
    """Today's interception alerts and the emergency overrides still unconfirmed."""
    from . import services

    today = local_today()
    services.drain_alerts()  # denials noted in the last minute
    stmt = queries.alerts_query(user.principal, today)
    total = _count(stmt)
    open_overrides = _count(queries.overrides_query(user.principal, "open"))
    rows = [Row(f"{a.staff.name}：{a.technology.name}", url_for("credentials.list_alerts"),
                meta=a.reason, badge="拦截", state="bad") for a in db.session.scalars(stmt.limit(MAX_ROWS))]
    content = PanelContent(
        figures=[Figure("今日拦截", total, url_for("credentials.list_alerts"), "bad" if total else ""),
                 Figure("紧急授权待确认", open_overrides, url_for("credentials.list_overrides"),
                        "warn" if open_overrides else "")],
        rows=rows, more_url=url_for("credentials.list_alerts"), more_label="全部拦截")
    if not rows:
        content.empty = "今天没有超权限拦截。"
    return content


EXPIRING = Panel("credentials.privileges_expiring", "授权到期", VIEW_PRIVILEGES, "list", build_expiring, order=36,
                 phone_priority=5)
PENDING = Panel("credentials.privileges_pending", "授权申请", VIEW_PRIVILEGES, "list", build_pending, order=37,
                phone_priority=4, refresh_on=("approvals-changed",))
ALERTS = Panel("credentials.privilege_alerts", "超权限拦截", VIEW_PRIVILEGES, "list", build_alerts, order=34,
               phone_priority=3)

register(EXPIRING)
register(PENDING)
register(ALERTS)
