"""The monthly KPI dashboard; its drill-downs are declared reports (kpis/reports.py) that the old links lead to."""

from __future__ import annotations

from datetime import date

from flask import abort, redirect, request, url_for

from portal.core import months
from portal.core.listing import arg_choice, parse_sort, past_month
from portal.core.permissions import require
from portal.core.rendering import render

from .. import KPI, bp
from ..assessment import services as assessments
from . import queries as kpis
from . import reports as kpi_reports


def _month_arg() -> date:
    return past_month(request.args.get("month", "").strip())


# --- dashboard -----------------------------------------------------------------------------------------------

@bp.route("/kpis")
@require(KPI)
def kpi_dashboard():
    """The month's KPIs, each with its definition, target, last month and a link to its rows."""
    month = _month_arg()
    data = kpis.month_kpis(month)
    this_month = months.current_month()
    return render("casemgmt/kpis/kpi_dashboard.html", data=data, month=month, m=months.month_text(month),
                  label=months.month_label(month), prev=months.month_text(months.previous_month(month)),
                  next=months.month_text(months.next_month(month)) if month < this_month else None,
                  max_month=months.month_text(this_month), proposal=assessments.proposal(month, data),
                  saved=assessments.get_assessment(month), rule=assessments.PROPOSAL_RULE,
                  drill=kpi_reports.drill_url)


# --- drill-downs: declared reports of the registry (kpis/reports.py) -------------------------------------------

def _detail_args(kpi: str) -> tuple[str, dict]:
    """The registry's URL for an old drill-down link, its month and filter checked here (400 as before)."""
    if kpi not in kpi_reports.KPI_REPORTS:
        abort(404)
    month = months.month_text(_month_arg())
    filters = {}
    if kpi in kpi_reports.OLD_FILTERS:
        name, choices = kpi_reports.OLD_FILTERS[kpi]
        filters[name] = arg_choice(name, choices)
    if kpi in kpis.SORTS:  # a sort the rows do not have is a 400 here, as on the rows page
        allowed, default, _ = kpis.SORTS[kpi]
        filters["sort"] = parse_sort(allowed, default).param
        if filters["sort"] == default:
            filters["sort"] = ""
    return kpi_reports.drill_args(kpi, month, filters)


@bp.route("/kpis/<kpi>")
@require(KPI)
def kpi_detail(kpi: str):
    """The rows behind one KPI of the month: now the KPI's report on the registry, with the same filters."""
    endpoint, args = _detail_args(kpi)
    if request.args.get("page"):
        args["page"] = request.args["page"]
    return redirect(url_for(endpoint, **args))


@bp.route("/kpis/<kpi>/export")
@require(KPI)
def export_kpi_detail(kpi: str):
    """One KPI's rows as .xlsx: the registry's export of the same rows."""
    endpoint, args = _detail_args(kpi)
    export = "reports.export_drill_rows" if endpoint == "reports.drill_rows" else "reports.export_report"
    return redirect(url_for(export, **args))
