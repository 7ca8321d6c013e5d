"""What the quality lists share: the month filter (default last month), the department filter and the scope."""

from __future__ import annotations

from datetime import date

from flask import abort

from portal.core.listing import arg_int, arg_month
from portal.core.months import month_bounds
from portal.core.scoping import scope_query
from portal.core.timeutil import local_today


def last_month() -> date:
    first = local_today().replace(day=1)
    return date(first.year - 1, 12, 1) if first.month == 1 else date(first.year, first.month - 1, 1)


def period_and_department(principal, perm) -> tuple[date, date, date, int | None]:
    """(month, first day, last day, department id) from the query string; a department out of scope is a 404."""
    month = arg_month("month") or last_month()
    department_id = arg_int("department_id")
    if department_id is not None and not principal.can_act_on(perm, department_id):
        abort(404)
    start, end = month_bounds(month)
    return month, start, end, department_id


def scoped(stmt, column, principal, perm, department_id: int | None):
    if department_id is not None:
        stmt = stmt.where(column == department_id)
    return scope_query(stmt, column, principal, perm)
