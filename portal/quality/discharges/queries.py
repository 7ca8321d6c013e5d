"""The discharge list's query: a month of discharges in the user's departments (index on date, department)."""

from __future__ import annotations

from sqlalchemy import select

from .. import VIEW
from ..listing import scoped
from ..models import Discharge


def list_query(principal, start, end, department_id, mode: str = "", mrn: str = ""):
    stmt = select(Discharge).where(Discharge.discharge_date.between(start, end))
    if mode:
        stmt = stmt.where(Discharge.discharge_mode == mode)
    if mrn:
        stmt = stmt.where(Discharge.mrn == mrn)
    stmt = scoped(stmt, Discharge.department_id, principal, VIEW, department_id)
    return stmt.order_by(Discharge.discharge_date.desc(), Discharge.id.desc())
