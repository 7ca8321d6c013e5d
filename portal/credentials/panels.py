"""Home panels of credentials: qualifications expiring in the user's departments (medical affairs, department
heads), and the clinician's own applications in progress."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import format_date, local_today
from portal.extensions import db

from . import APPLY_QUALIFICATION, VIEW_QUALIFICATIONS
from .models.qualifications import STATE_BADGE, STATES
from .qualifications import queries

SOON_DAYS = 30


def build_expiring(user) -> PanelContent:
    """Qualifications ending within 30 days and those already expired (not renewed), each linking to its rows."""
    principal, today = user.principal, local_today()
    soon, expired = queries.expiring_counts(principal, today, SOON_DAYS)
    near = db.session.scalars(queries.list_query(principal, queries.Filters(expiring_days=SOON_DAYS), today)
                              .limit(MAX_ROWS)).all()
    rows = [Row(f"{r.staff.name}：{r.display_name}", url_for("credentials.view_qualification", record_id=r.id),
                meta=f"{r.staff.department.name}，{format_date(r.valid_to)} 到期", badge="即将到期", state="warn")
            for r in near]
    content = PanelContent(
        figures=[Figure(f"{SOON_DAYS} 天内到期", soon, url_for("credentials.list_qualifications", expiring=SOON_DAYS),
                        "warn" if soon else ""),
                 Figure("已过期未更新", expired, url_for("credentials.list_qualifications", state="expired"),
                        "bad" if expired else "")],
        rows=rows, more_url=url_for("credentials.list_qualifications"), more_label="全部资质")
    if not rows:
        content.empty = f"没有 {SOON_DAYS} 天内到期的资质。"
    return content


def build_my_applications(user) -> PanelContent:
    """The clinician's applications waiting for approval or returned for correction."""
    stmt = queries.my_open_applications(user.staff_id)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    records = db.session.scalars(stmt.limit(MAX_ROWS)).all()
    rows = [Row(r.display_name, url_for("credentials.view_qualification", record_id=r.id),
                meta=f"提交于 {format_date(r.created_at)}", badge=STATES[r.status], state=STATE_BADGE[r.status])
            for r in records]
    returned = sum(1 for r in records if r.status == "returned")
    content = PanelContent(
        figures=[Figure("进行中的申请", total, url_for("credentials.my_qualifications"), "wait" if total else ""),
                 Figure("退回待修改", returned, url_for("credentials.my_qualifications"), "warn" if returned else "")],
        rows=rows, more_url=url_for("credentials.my_qualifications"), more_label="我的资质",
        action_url=url_for("credentials.apply_qualification"), action_label="申请资质")
    if not rows:
        content.empty = "没有进行中的资质申请。证书更新后可在“我的资质”中提交申请。"
    return content


EXPIRING = Panel("credentials.expiring", "资质到期", VIEW_QUALIFICATIONS, "list", build_expiring, order=35,
                 phone_priority=4)
MY_APPLICATIONS = Panel("credentials.my_applications", "我的资质申请", APPLY_QUALIFICATION, "list",
                        build_my_applications, order=40, phone_priority=3, refresh_on=("approvals-changed",))

register(EXPIRING)
register(MY_APPLICATIONS)
