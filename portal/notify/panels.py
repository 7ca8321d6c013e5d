"""Home panels of notifications: what the signed-in user has not read yet."""

from __future__ import annotations

from flask import url_for

from portal.core.panels import Figure, Panel, PanelContent, Row, register
from portal.core.permissions import SIGNED_IN
from portal.core.timeutil import format_datetime

from . import services

SHOWN = 3


def build_unread(user) -> PanelContent:
    """The unread count (linking to the unread notifications) and the newest few."""
    page = services.unread_head(user.id, SHOWN)
    unread_url = url_for("notify.list_notifications", unread="1")
    content = PanelContent(
        figures=[Figure("未读", page.total, unread_url, "wait" if page.total else "")],
        rows=[Row(note.title, unread_url, meta=format_datetime(note.created_at)) for note in page.items])
    if page.total > len(page.items):
        content.more_url, content.more_label = unread_url, f"全部 {page.total} 条未读"
    if not page.total:
        content.empty = "没有未读通知。以前的通知可在通知中心查看。"
        content.more_url, content.more_label = url_for("notify.list_notifications"), "打开通知中心"
    return content


UNREAD = Panel("notify.unread", "未读通知", SIGNED_IN, "list", build_unread, order=20, phone_priority=2,
               refresh_on=("notifications-changed",))

register(UNREAD)
