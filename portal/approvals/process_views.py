"""Process definitions: the medical affairs admin edits steps, approver rules and time limits."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import func, select

from portal.auth.models import User
from portal.auth.seed import ROLES
from portal.core import audit
from portal.core.forms import select_choices
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.extensions import db

from . import MANAGE_PROCESSES, bp
from .forms import ProcessForm, StepForm
from .models import ApprovalProcess, ApprovalStep, Committee

STEP_FIELDS = ("name", "rule", "role_code", "committee_id", "committee_mode", "user_id", "time_limit_hours",
               "escalate_after_hours")


def _step_form(step: ApprovalStep | None = None) -> StepForm:
    form = StepForm(formdata=None, obj=step) if request.method == "GET" else StepForm()
    if request.method == "GET" and step is not None and step.user:
        form.user_login.data = step.user.login_name
    committees = db.session.scalars(select(Committee).order_by(Committee.id)).all()
    form.committee_id.choices = select_choices([("", "—")] + [(c.id, c.name) for c in committees])
    return form


def _apply_step(form: StepForm, step: ApprovalStep) -> str | None:
    """Copy a valid form onto a step; a Chinese message when the rule's target is missing."""
    rule = form.rule.data
    user = None
    if rule == "role" and form.role_code.data not in ROLES:
        return "请选择角色。"
    committee = db.session.get(Committee, form.committee_id.data) if form.committee_id.data else None
    if rule == "committee" and committee is None:
        return "请选择委员会。"
    if rule == "user":
        login = (form.user_login.data or "").strip()
        user = db.session.scalar(select(User).where(func.lower(User.login_name) == login.lower()))
        if user is None:
            return "找不到该登录名的用户。"
    step.name = form.name.data.strip()
    step.rule = rule
    step.role_code = form.role_code.data if rule == "role" else ""
    step.committee_id = form.committee_id.data if rule == "committee" else None
    step.committee_mode = form.committee_mode.data or "any"
    step.user_id = user.id if user else None
    step.time_limit_hours = form.time_limit_hours.data
    step.escalate_after_hours = form.escalate_after_hours.data
    return None


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
            before = audit.snapshot(process, ("name", "description", "allow_withdraw", "is_active"))
            form.populate_obj(process)
            audit.record("update", "approval_process", process.id, label=process.name, before=before,
                         after=audit.snapshot(process, ("name", "description", "allow_withdraw", "is_active")))
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
        target = step or ApprovalStep(process_id=process.id,
                                      position=max((s.position for s in process.steps), default=0) + 1)
        before = audit.snapshot(target, STEP_FIELDS) if step else None
        error = _apply_step(form, target)
        if error is None:
            if step is None:
                db.session.add(target)
            db.session.flush()
            audit.record("update", "approval_process", process.id, label=f"{process.name} / {target.name}",
                         before=before, after=audit.snapshot(target, STEP_FIELDS))
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
    if len(process.steps) <= 1:
        flash("流程至少需要一个审批步骤。", "error")
        return redirect(url_for("approvals.edit_process", process_id=process.id), 303)
    audit.record("delete", "approval_process", process.id, label=f"{process.name} / {step.name}",
                 before=audit.snapshot(step, STEP_FIELDS))
    removed = step.position
    process.steps.remove(step)
    db.session.flush()
    for later in sorted((s for s in process.steps if s.position > removed), key=lambda s: s.position):
        later.position -= 1
        db.session.flush()
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
    name = (request.form.get("name") or "").strip()
    if not name or len(name) > 100:
        flash("请填写委员会名称（不超过 100 字）。", "error")
        return redirect(url_for("approvals.list_committees"), 303)
    if db.session.scalar(select(Committee).where(Committee.name == name)):
        flash("已有同名委员会。", "error")
        return redirect(url_for("approvals.list_committees"), 303)
    count = db.session.scalar(select(func.count()).select_from(Committee)) or 0
    committee = Committee(code=f"c{count + 1}", name=name)
    db.session.add(committee)
    db.session.flush()
    audit.record("create", "committee", committee.id, label=name, after={"name": name})
    flash(f"已创建 {name}。", "success")
    return redirect(url_for("approvals.list_committees"), 303)


@bp.route("/committees/<int:committee_id>/members", methods=["POST"])
@require(MANAGE_PROCESSES)
def change_committee_member(committee_id: int):
    """Add a member by login name, or remove one."""
    committee = get_or_404(Committee, committee_id)
    login = (request.form.get("login_name") or "").strip()
    user = db.session.scalar(select(User).where(func.lower(User.login_name) == login.lower())) if login else None
    before = sorted(u.login_name for u in committee.members)
    if user is None:
        flash("找不到该登录名的用户。", "error")
    elif request.form.get("remove") == "1":
        if user in committee.members:
            committee.members.remove(user)
            flash(f"已将 {user.display_name} 移出{committee.name}。", "success")
    elif not user.is_active_flag:
        flash("该账户已停用，不能加入委员会。", "error")
    elif user not in committee.members:
        committee.members.append(user)
        flash(f"已将 {user.display_name} 加入{committee.name}。", "success")
    after = sorted(u.login_name for u in committee.members)
    if after != before:
        audit.record("update", "committee", committee.id, label=committee.name,
                     changes={"members": {"before": before, "after": after}})
    return redirect(url_for("approvals.list_committees"), 303)
