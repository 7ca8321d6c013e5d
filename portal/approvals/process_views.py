"""Process definitions: the medical affairs admin edits steps, approver rules and time limits."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select

from portal.core.forms import select_choices
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.extensions import db

from . import MANAGE_PROCESSES, bp, services
from .forms import ProcessForm, StepForm
from .models import ApprovalProcess, ApprovalStep, Committee


def _step_form(step: ApprovalStep | None = None) -> StepForm:
    form = StepForm(formdata=None, obj=step) if request.method == "GET" else StepForm()
    if request.method == "GET" and step is not None and step.user:
        form.user_login.data = step.user.login_name
    committees = db.session.scalars(select(Committee).order_by(Committee.id)).all()
    form.committee_id.choices = select_choices([("", "—")] + [(c.id, c.name) for c in committees])
    return form


@bp.route("/processes")
@require(MANAGE_PROCESSES)
def list_processes():
    """Every process with its steps."""
    processes = db.session.scalars(select(ApprovalProcess).order_by(ApprovalProcess.id)).all()
    return render("approvals/process_list.html", processes=processes)


@bp.route("/processes/<int:process_id>", methods=["GET", "POST"])
@require(MANAGE_PROCESSES)
def edit_process(process_id: int):
    """A process's name, withdrawal rule and status, with its steps."""
    process = get_or_404(ApprovalProcess, process_id)
    form = ProcessForm(formdata=None, obj=process) if request.method == "GET" else ProcessForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            services.update_process(process, name=form.name.data, description=form.description.data,
                                    allow_withdraw=form.allow_withdraw.data, is_active=form.is_active.data)
            flash("已保存流程。", "success")
            return redirect(url_for("approvals.edit_process", process_id=process.id), 303)
        status = 422
    return render("approvals/process_form.html", status=status, process=process, form=form,
                  step_form=_step_form())


@bp.route("/processes/<int:process_id>/steps", methods=["POST"])
@bp.route("/processes/<int:process_id>/steps/<int:step_id>", methods=["POST"])
@require(MANAGE_PROCESSES)
def save_step(process_id: int, step_id: int | None = None):
    """Add a step at the end, or change one; running requests keep the tasks they already have."""
    process = get_or_404(ApprovalProcess, process_id)
    step = get_or_404(ApprovalStep, step_id) if step_id else None
    if step is not None and step.process_id != process.id:
        abort(404)
    form = _step_form(step)
    error = None
    if form.validate_on_submit():
        try:
            services.save_step(process, step, name=form.name.data, rule=form.rule.data,
                               role_code=form.role_code.data, committee_id=form.committee_id.data,
                               committee_mode=form.committee_mode.data, user_login=form.user_login.data,
                               time_limit_hours=form.time_limit_hours.data,
                               escalate_after_hours=form.escalate_after_hours.data)
        except ServiceError as refused:
            error = refused.message
        else:
            flash("已保存审批步骤。", "success")
            return redirect(url_for("approvals.edit_process", process_id=process.id), 303)
    return render("approvals/process_form.html", status=422, process=process, form=ProcessForm(obj=process),
                  step_form=form, step_error=error or "步骤未保存，请检查下面的错误。")


@bp.route("/processes/<int:process_id>/steps/<int:step_id>/delete", methods=["POST"])
@require(MANAGE_PROCESSES)
def delete_step(process_id: int, step_id: int):
    """Remove a step (a process keeps at least one)."""
    process = get_or_404(ApprovalProcess, process_id)
    step = get_or_404(ApprovalStep, step_id)
    if step.process_id != process.id:
        abort(404)
    try:
        services.delete_step(process, step)
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash("已删除审批步骤。", "success")
    return redirect(url_for("approvals.edit_process", process_id=process.id), 303)


@bp.route("/committees")
@require(MANAGE_PROCESSES)
def list_committees():
    """Committees and their members (the approvers of committee steps)."""
    committees = db.session.scalars(select(Committee).order_by(Committee.id)).all()
    return render("approvals/committee_list.html", committees=committees)


@bp.route("/committees/new", methods=["POST"])
@require(MANAGE_PROCESSES)
def new_committee():
    """Create a committee."""
    try:
        committee = services.create_committee(request.form.get("name") or "")
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(f"已创建 {committee.name}。", "success")
    return redirect(url_for("approvals.list_committees"), 303)


@bp.route("/committees/<int:committee_id>/members", methods=["POST"])
@require(MANAGE_PROCESSES)
def change_committee_member(committee_id: int):
    """Add a member by login name, or remove one."""
    committee = get_or_404(Committee, committee_id)
    try:
        done = services.change_committee_member(committee, request.form.get("login_name") or "",
                                                remove=request.form.get("remove") == "1")
    except ServiceError as error:
        flash(error.message, "error")
    else:
        if done:
            flash(done, "success")
    return redirect(url_for("approvals.list_committees"), 303)
