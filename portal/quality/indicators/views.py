"""The indicator dashboard: the performance indicators for a month, quarter or year, hospital-wide or for one
department, with numerator and denominator linking to their discharges, year-on-year and period-on-period."""

from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user
from markupsafe import Markup

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
    part = queries.kept_figures(period, department_id, principal, current_user._get_current_object())
    context = {"period": period, "figures": part.value, "department_id": department_id,
               "report_args": queries.report_args(period, department_id),
               "trend_args": queries.trend_args(period, department_id),
               "before": period.before(), "year_before": period.year_before()}
    # the same for every request that finds these figures kept (the key holds the period, department and scope)
    body = part.derive(request.script_root, lambda: Markup(render_template("quality/indicators/_figures.html",
                                                                           **context)))
    return render("quality/indicators/dashboard.html", "quality/_kept.html", body=body, rules=RULES,
                  departments=department_choices(principal, VIEW, blank="全院（我可查看的科室）"),
                  kinds=queries.KINDS, **context)
