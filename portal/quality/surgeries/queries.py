"""The surgery list's query: a month of operations in the user's departments (index on date, department)."""

from __future__ import annotations

from sqlalchemy import select

from .. import VIEW
from ..listing import scoped
from ..models import Surgery


def list_query(principal, start, end, department_id, grade: str = "", kind: str = "", urgency: str = "",
               mrn: str = ""):
    stmt = select(Surgery).where(Surgery.operation_date.between(start, end))
    if grade:
        stmt = stmt.where(Surgery.grade == int(grade))
    if kind:
        stmt = stmt.where(Surgery.kind == kind)
    if urgency:
        stmt = stmt.where(Surgery.urgency == urgency)
    if mrn:
        stmt = stmt.where(Surgery.mrn == mrn)
    stmt = scoped(stmt, Surgery.department_id, principal, VIEW, department_id)
    # operation_date is started_at's local date: leading with it is the same order, and lets the planner walk the
    # (operation_date, ...) indexes backwards and stop after a page instead of sorting the month.
    return stmt.order_by(Surgery.operation_date.desc(), Surgery.started_at.desc(), Surgery.id.desc())
