"""Findings: list with statistics by department, issue, and the department's answer."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth.queries import department_choices
from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_scoped_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.io.export import Column, export_query

from . import ANSWER, ISSUE, VIEW, bp, services
from .forms import AnswerForm, FindingForm
from .models import STATES, Finding


def _filters() -> tuple[str, int | None, bool, dict]:
    status = arg_choice("status", STATES)
    department_id = arg_int("department_id")
    overdue = arg_choice("overdue", ("1",)) == "1"
    return status, department_id, overdue, {"status": status, "department_id": department_id or "",
                                            "overdue": "1" if overdue else ""}


@bp.route("")
@require(VIEW)
def list_findings():
    """Findings in the user's departments, with open findings counted by department."""
    status, department_id, overdue, args = _filters()
    principal = current_user.principal
    page = paginate(services.list_query(principal, status, department_id, overdue), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"])
    return render("supervision/finding_list.html", "supervision/_finding_rows.html", page=page, args=args,
                  states=STATES, status_filter=status, overdue=overdue, today=local_today(),
                  stats=services.open_by_department(principal), departments=department_choices(principal, VIEW),
                  department_id=department_id)


@bp.route("/export")
@require(VIEW)
def export_findings():
    """The findings list exactly as filtered (and scoped), as .xlsx."""
    status, department_id, overdue, args = _filters()
    today = local_today()
    columns = [
        Column("科室", lambda f: f.department.name, 16),
        Column("问题", lambda f: f.title, 30),
        Column("问题描述", lambda f: f.description, 40),
        Column("整改期限", lambda f: f.deadline, 12),
        Column("状态", lambda f: f.status_label + ("（已超期）" if f.is_overdue(today) else ""), 14),
        Column("整改措施", lambda f: f.rectification, 40),
        Column("下发时间", lambda f: f.created_at, 18),
    ]
    stmt = services.list_query(current_user.principal, status, department_id, overdue)
    return export_query(stmt, columns, "督导整改", args, "supervision_finding")


@bp.route("/new", methods=["GET", "POST"])
@require(ISSUE)
def new_finding():
    """Issue a finding to a department."""
    form = FindingForm()
    form.department_id.choices = select_choices(department_choices(current_user.principal, ISSUE,
                                                                   blank="（请选择）", active_only=True))
    if form.validate_on_submit():
        try:
            finding = services.issue_finding(department_id=form.department_id.data, title=form.title.data,
                                             description=form.description.data, deadline=form.deadline.data,
                                             within=current_user.principal.departments_for(ISSUE))
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已向{finding.department.name}下发督导问题。", "success")
            return redirect(url_for("supervision.view_finding", finding_id=finding.id), 303)
    status = 422 if request.method == "POST" else 200
    return render("supervision/finding_form.html", status=status, form=form)


def _detail(finding: Finding, form: AnswerForm | None = None, status: int = 200):
    can_answer = (current_user.principal.can_act_on(ANSWER, finding.department_id)
                  and finding.status in ("issued", "rework"))
    return render("supervision/finding_detail.html", status=status, finding=finding, today=local_today(),
                  form=form or AnswerForm(formdata=None), can_answer=can_answer)


@bp.route("/<int:finding_id>")
@require(VIEW)
def view_finding(finding_id: int):
    """One finding, its rectification and the link to its evaluation."""
    return _detail(get_scoped_or_404(Finding, finding_id, current_user.principal, VIEW))


@bp.route("/<int:finding_id>/answer", methods=["POST"])
@require(ANSWER)
def answer_finding(finding_id: int):
    """The department submits its rectification and evidence for evaluation."""
    finding = get_scoped_or_404(Finding, finding_id, current_user.principal, ANSWER, seen_with=VIEW)
    form = AnswerForm()
    if form.validate_on_submit():
        files = [(f.filename, f.read()) for f in request.files.getlist("attachments") if f and f.filename][:5]
        try:
            services.answer_finding(finding, current_user, form.rectification.data, files)
        except ServiceError as error:
            form.apply_error(error)
            return _detail(finding, form, error.status)
        flash("整改已提交，等待医务科评价。", "success")
        return redirect(url_for("supervision.view_finding", finding_id=finding.id), 303)
    return _detail(finding, form, 422)
