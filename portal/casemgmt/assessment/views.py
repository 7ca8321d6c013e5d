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
from portal.io.export import Column, export_rows, send_xlsx

from .. import ASSESS, KPI, bp
from ..kpis import queries as kpis
from . import services as assessments
from .forms import AssessmentForm


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
    """The year's assessed months as .xlsx."""
    year = _year_arg()
    data = assessments.year_assessments(year)
    name = f"{year}年月度考核"
    columns = [
        Column("考核月份", lambda a: f"{a.month:%Y-%m}", 10),
        Column("系统建议分", lambda a: a.proposed_score, 12, "0.0"),
        Column("考评分", lambda a: a.score, 10, "0.0"),
        Column("考核结算系数", lambda a: a.coefficient, 14, "0.00"),
        Column("月度应付费用（元）", lambda a: a.payable, 18, "#,##0.00"),
        Column("月度结算费用（元）", lambda a: a.fee, 18, "#,##0.00"),
        Column("履约保证金处理", lambda a: assessments.bond_treatment(a.score), 28),
        Column("备注", lambda a: a.note, 30),
    ]
    return export_rows(data.assessed, columns, name, {"年份": year}, "monthly_assessment")


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
    """The month's assessment sheet (.xlsx) with the indicators, settlement and signature lines."""
    month = past_month(month_value, "导出")
    try:
        content = assessments.assessment_sheet(month)
    except ServiceError as error:
        abort(error.status, error.message)
    return send_xlsx(content, f"{months.month_label(month)}月度考核表.xlsx")
