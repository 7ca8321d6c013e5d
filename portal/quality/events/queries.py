"""The event list's query: events by date and kind; a department head sees the matched events of their
departments, medical affairs also the unmatched ones (which have no department until they are linked)."""

from __future__ import annotations

from sqlalchemy import select

from .. import VIEW
from ..listing import scoped
from ..models import QualityEvent, Surgery


def list_query(principal, start, end, department_id, kind: str = "", status: str = ""):
    stmt = (select(QualityEvent).outerjoin(Surgery, Surgery.id == QualityEvent.surgery_id)
            .where(QualityEvent.event_date.between(start, end)))
    if kind:
        stmt = stmt.where(QualityEvent.kind == kind)
    if status:
        stmt = stmt.where(QualityEvent.status == status)
    stmt = scoped(stmt, Surgery.department_id, principal, VIEW, department_id)
    return stmt.order_by(QualityEvent.event_date.desc(), QualityEvent.id.desc())


def visible(principal, event: QualityEvent) -> bool:
    department_id = event.surgery.department_id if event.surgery else None
    if department_id is None:
        return principal.departments_for(VIEW) is None
    return principal.can_act_on(VIEW, department_id)
