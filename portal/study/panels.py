"""Home panel of study records: this month's state of the departments in the user's scope (medical affairs: the
departments behind; a department's secretary or head: their own department's plan and records)."""

from __future__ import annotations

from flask import url_for

from portal.core.months import current_month, month_label
from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import local_today

from . import VIEW
from .matrix import queries

BEHIND = ("none", "returned", "submitted")


def build_status(user) -> PanelContent:
    """Departments by this month's state; the ones behind listed, each opening its department-month."""
    today = local_today()
    month = current_month(today)
    # this month's column of the matrix, kept per worker like the matrix page's while the study generation holds
    matrix = queries.kept_build(user.principal, month, month, today=today)
    departments = [row.department for row in matrix.rows]
    states = {row.department.id: row.cells[0] for row in matrix.rows}
    behind = [d for d in departments if states[d.id].state in BEHIND]
    done = sum(1 for c in states.values() if c.state == "complete")
    rows = [Row(d.name, url_for("study.department_month", department_id=d.id, month=f"{month:%Y-%m}"),
                meta=month_label(month), badge=states[d.id].label,
                state="bad" if states[d.id].state != "submitted" else "wait") for d in behind[:MAX_ROWS]]
    matrix_url = url_for("study.matrix", year=month.year)
    content = PanelContent(
        figures=[Figure("本月计划未通过", len(behind), matrix_url, "bad" if behind else ""),
                 Figure("本月已完成", done, matrix_url)],
        rows=rows, more_url=matrix_url, more_label="业务学习完成情况")
    if len(departments) == 1 and not rows:
        dept = departments[0]
        content.rows = [Row(dept.name, url_for("study.department_month", department_id=dept.id,
                                               month=f"{month:%Y-%m}"), meta=month_label(month),
                            badge=states[dept.id].label, state="ok" if states[dept.id].state == "complete" else "wait")]
    if not content.rows:
        content.empty = "本月各科室的学习计划均已通过审核。"
    return content


STATUS = Panel("study.status", "业务学习", VIEW, "list", build_status, order=40, phone_priority=4)

register(STATUS)
