"""The monthly assessment pages: the year's list and export, entering a month's score, the assessment sheet."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from portal.core import months
from portal.core.listing import arg_int, past_month
from portal.core.permissions import has_permission, require
from portal.core.rendering import render
from portal.core.service import ServiceError
from portal.core.timeutil import local_today

from .. import ASSESS, KPI, bp
from ..kpis import queries as kpis
from . import services as assessments
from .forms import AssessmentForm
from .reports import ASSESSMENT


def _year_arg() -> int:
    return arg_int("year", local_today().year, minimum=months.MIN_YEAR, maximum=months.MAX_YEAR)


@bp.route("/assessments")
@require(KPI)
def list_assessments():
    """The year's monthly assessments: score, coefficient, payable and fee per month, with totals."""
    year = _year_arg()
    return render("casemgmt/assessment/assessment_list.html", year=year, data=assessments.year_assessments(year),
                  can_assess=has_permission(current_user, ASSESS), bands=assessments.BANDS,
                  rule=assessments.COEFFICIENT_RULE, this_year=local_today().year)


@bp.route("/assessments/export")
@require(KPI)
def export_assessments():
    """The year's assessed months as .xlsx: the registry's export of the assessment table for the year."""
    year = _year_arg()
    return redirect(url_for("reports.export_report", code=ASSESSMENT.code, date_from=f"{year}-01-01",
                            date_to=f"{year}-12-31"))


def _assessment_page(month: date, form: AssessmentForm, status: int = 200):
    data = kpis.month_kpis(month, with_previous=False)
    return render("casemgmt/assessment/assessment_form.html", status=status, form=form, month=month,
                  m=months.month_text(month), label=months.month_label(month), data=data,
                  proposal=assessments.proposal(month, data), saved=assessments.get_assessment(month),
                  bands=assessments.BANDS, rule=assessments.PROPOSAL_RULE,
                  coefficient_rule=assessments.COEFFICIENT_RULE)


@bp.route("/assessments/<month_value>", methods=["GET", "POST"])
@require(ASSESS)
def edit_assessment(month_value: str):
    """Enter or correct a month's score and payable amount; the coefficient and fee follow the contract."""
    month = past_month(month_value, "考核")
    saved = assessments.get_assessment(month)
    if request.method == "GET":
        initial = ({"score": saved.score, "payable": saved.payable, "note": saved.note} if saved
                   else {"score": assessments.propose_score(month)})
        return _assessment_page(month, AssessmentForm(data=initial))
    form = AssessmentForm()
    if form.validate_on_submit():
        try:
            row = assessments.save_assessment(month, score=form.score.data, payable=form.payable.data,
                                              note=form.note.data or "")
        except ServiceError as error:
            form.apply_error(error)
            return _assessment_page(month, form, error.status)
        else:
            flash(f"已保存{months.month_label(month)}考核：考评分 {row.score}，结算系数 {row.coefficient}，"
                  f"月度结算费用 ¥{row.fee:,.2f}。", "success")
            return redirect(url_for("casemgmt.list_assessments", year=month.year), 303)
    return _assessment_page(month, form, 422)


@bp.route("/assessments/<month_value>/sheet")
@require(KPI)
def export_assessment_sheet(month_value: str):
    """The month's assessment sheet (.xlsx): the registry's export of the assessment table for the month."""
    month = past_month(month_value, "导出")
    if assessments.get_assessment(month) is None:
        abort(404, f"{months.month_label(month)}尚未录入考核结果，不能导出考核表。")
    return redirect(url_for("reports.export_report", code=ASSESSMENT.code, month=months.month_text(month)))
