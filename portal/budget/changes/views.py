"""Budget change requests (追加预算, 科目间调剂)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user

from portal.core.forms import select_choices
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.service import ServiceError

from .. import CHANGE, bp
from ..expenditures.services import leaf_lines
from ..models import CHANGE_KINDS
from ..projects.queries import project_or_404
from . import services
from .forms import ChangeForm


@bp.route("/projects/<int:project_id>/changes/new", methods=["GET", "POST"])
@require(CHANGE)
def new_change(project_id: int):
    """Request an increase or a move between lines; it goes through approval and makes a new version."""
    project = project_or_404(project_id, CHANGE)
    form = ChangeForm()
    choices = [("", "（请选择）")] + [(line.id, line.label) for line in leaf_lines(project.id)]
    form.kind.choices = select_choices(CHANGE_KINDS)
    form.from_line_id.choices = select_choices(choices)
    form.to_line_id.choices = select_choices(choices)
    status = 200
    if form.validate_on_submit():
        try:
            services.request_change(project, current_user, kind=form.kind.data, to_line_id=form.to_line_id.data,
                                    from_line_id=form.from_line_id.data, amount=form.amount.data,
                                    reason=form.reason.data)
        except ServiceError as error:
            form.apply_error(error)
            status = error.status
        else:
            flash("预算调整已提交审批，通过后生成新的预算版本。", "success")
            return redirect(url_for("budget.view_project", project_id=project.id), 303)
    elif request.method == "POST":
        status = 422
    return render("budget/change_form.html", status=status, form=form, project=project)
