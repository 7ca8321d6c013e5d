"""Expenditures: the rows behind every figure (filtered, exportable), entry one by one, and attachments."""

from __future__ import annotations

import io

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.extensions import db
from portal.io.export import Column, export_query

from .. import MANAGE, VIEW, bp
from ..execution.queries import expenditures_query
from ..models import EXPENDITURE_STATES, BudgetLine, Expenditure
from ..projects.queries import project_or_404
from . import services
from .forms import ExpenditureForm


def _line_ids(project_id: int, line_id: int | None) -> list[int] | None:
    """A line and its sub-lines (a parent's figure opens the rows of its sub-lines)."""
    if not line_id:
        return None
    ids = [line_id, *db.session.scalars(select(BudgetLine.id).where(BudgetLine.parent_id == line_id,
                                                                    BudgetLine.project_id == project_id))]
    return ids


def _filters(project_id: int):
    line_id = arg_int("line")
    status = arg_choice("status", EXPENDITURE_STATES)
    return line_id, status, {"line": line_id or "", "status": status}


@bp.route("/projects/<int:project_id>/expenditures")
@require(VIEW)
def list_expenditures(project_id: int):
    """The expenditures behind a figure: of the project, a line (with its sub-lines) and a state."""
    project = project_or_404(project_id)
    line_id, status, args = _filters(project.id)
    page = paginate(expenditures_query(project.id, _line_ids(project.id, line_id), status), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"])
    lines = services.leaf_lines(project.id)
    return render("budget/expenditure_list.html", "budget/_expenditure_rows.html", project=project, page=page,
                  args=args, states=EXPENDITURE_STATES, status_filter=status, line_id=line_id,
                  line_choices={"": "全部科目", **{line.id: line.label for line in project.lines}}, leaf_lines=lines)


@bp.route("/projects/<int:project_id>/expenditures/export")
@require(VIEW)
def export_expenditures(project_id: int):
    """The expenditures exactly as filtered, as .xlsx."""
    project = project_or_404(project_id)
    line_id, status, args = _filters(project.id)
    columns = [Column("日期", lambda e: e.spent_on, 12), Column("科目编码", lambda e: e.line.code, 10),
               Column("预算科目", lambda e: e.line.name, 20), Column("金额", lambda e: e.amount, 14, "#,##0.00"),
               Column("摘要", lambda e: e.description, 30), Column("凭证号", lambda e: e.voucher_no, 18),
               Column("状态", lambda e: e.status_label, 10), Column("超预算理由", lambda e: e.over_reason, 30)]
    return export_query(expenditures_query(project.id, _line_ids(project.id, line_id), status), columns,
                        f"项目支出_{project.code}", {**args, "project": project.code}, "budget_expenditure")


def _form(project) -> ExpenditureForm:
    form = ExpenditureForm()
    form.line_id.choices = select_choices([("", "（请选择）")] + [(line.id, line.label)
                                                              for line in services.leaf_lines(project.id)])
    return form


@bp.route("/projects/<int:project_id>/expenditures/new", methods=["GET", "POST"])
@require(MANAGE)
def new_expenditure(project_id: int):
    """Enter one expenditure (with its voucher's scan, optionally)."""
    project = project_or_404(project_id, MANAGE)
    form = _form(project)
    status = 200
    if form.validate_on_submit():
        upload = request.files.get("attachment")
        attachment = (upload.filename, upload.read()) if upload and upload.filename else None
        try:
            item = services.add_expenditure(
                project, current_user, line_id=form.line_id.data, spent_on=form.spent_on.data,
                amount=form.amount.data, description=form.description.data, voucher_no=form.voucher_no.data,
                over_reason=form.over_reason.data or "", attachment=attachment)
        except ServiceError as error:
            form.apply_error(error)
            status = error.status
        else:
            message = ("已登记，超出科目预算，已提交审批（审批通过前计为占用）。" if item.status == "committed"
                       else "支出已登记。")
            flash(message, "success")
            return redirect(url_for("budget.view_project", project_id=project.id), 303)
    elif request.method == "POST":
        status = 422
    return render("budget/expenditure_form.html", status=status, form=form, project=project)


@bp.route("/expenditures/<int:expenditure_id>/attachment")
@require(VIEW)
def download_attachment(expenditure_id: int):
    """The expenditure's attached voucher scan (404 outside the project's scope)."""
    item = get_or_404(Expenditure, expenditure_id)
    project_or_404(item.project_id)
    if not item.attachment_name:
        abort(404)
    return send_file(io.BytesIO(item.attachment), mimetype=item.attachment_type, download_name=item.attachment_name,
                     as_attachment=True)
