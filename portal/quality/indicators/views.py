"""The indicator dashboard: the performance indicators for a month, quarter or year, hospital-wide or for one
department, with numerator and denominator linking to their discharges, year-on-year and period-on-period."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from portal.auth.queries import department_choices
from portal.core.listing import arg_int, arg_str
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.service import ServiceError

from .. import VIEW, bp
from . import queries
from .definitions import RULES


@bp.route("/indicators")
@require(VIEW)
def indicator_dashboard():
    """The performance indicators of a period (default: last month), each number linking to its records."""
    try:
        period = queries.parse_period(arg_str("period", 10))
    except ServiceError as error:
        abort(400, error.message)
    department_id = arg_int("department_id")
    principal = current_user.principal
    if department_id is not None and not principal.can_act_on(VIEW, department_id):
        abort(404)
    figures = queries.figures(period, department_id, current_user)
    return render("quality/indicators/dashboard.html", "quality/indicators/_figures.html", period=period,
                  figures=figures, department_id=department_id, rules=RULES,
                  departments=department_choices(principal, VIEW, blank="全院（我可查看的科室）"),
                  report_args=queries.report_args(period, department_id),
                  trend_args=queries.trend_args(period, department_id),
                  kinds=queries.KINDS, before=period.before(), year_before=period.year_before())
