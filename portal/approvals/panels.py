"""Home panels of the approval engine: what waits for the signed-in user's decision."""

from __future__ import annotations

from flask import url_for

from portal.core.panels import Figure, Panel, PanelContent, Row, register
from portal.core.permissions import SIGNED_IN
from portal.core.timeutil import format_datetime, utcnow

from . import queries

SHOWN = 3


def build_todo(user) -> PanelContent:
    """The count of pending decisions (linking to the to-do list) and the most urgent few."""
    page = queries.todo_head(user.id, SHOWN)
    todo_url = url_for("approvals.list_todo")
    now = utcnow()
    rows = []
    for task in page.items:
        overdue = task.due_at is not None and task.due_at < now
        meta = f"{task.step_name} · 时限 {format_datetime(task.due_at)}" if task.due_at else task.step_name
        rows.append(Row(task.title, url_for("approvals.view_instance", instance_id=task.instance_id),
                        meta=meta, badge="已超时" if overdue else "", state="bad" if overdue else ""))
    content = PanelContent(figures=[Figure("待审批", page.total, todo_url, "wait" if page.total else "")],
                           rows=rows)
    if page.total > len(rows):
        content.more_url, content.more_label = todo_url, f"全部 {page.total} 项待审批"
    if not page.total:
        content.empty = "没有待您审批的事项。有新的审批到达时，这里和企业微信都会提醒您。"
    return content


TODO = Panel("approvals.todo", "待我审批", SIGNED_IN, "list", build_todo, order=10, phone_priority=1,
             refresh_on=("approvals-changed",))

register(TODO)
