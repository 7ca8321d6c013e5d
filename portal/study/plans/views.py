"""The department-month page: the plan with its sessions, each session's record, and the plan's submission."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user

from portal.core.months import month_bounds, next_month, previous_month
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.service import ServiceError
from portal.core.timeutil import local_today

from .. import SUBMIT, VIEW, bp
from ..common import department_or_404, month_or_400, uploaded_files
from ..models import CELL_STATES
from ..records.forms import StartRecordForm
from . import queries, services
from .forms import SessionForm, SubmitPlanForm


def _unfielded(error: ServiceError) -> str:
    """A refusal not about one field (the plan is no longer editable): shown above the page."""
    return "" if error.field else error.message


def _page(dept, month, session_form=None, submit_form=None, status=200, error=""):
    plan = services.find_plan(dept.id, month)
    sessions = queries.session_rows(plan)
    cell = queries.month_cell(plan, sessions)
    can_submit = current_user.principal.can_act_on(SUBMIT, dept.id)
    editable = can_submit and (plan is None or plan.status in services.EDITABLE)
    first, last = month_bounds(month)
    return render("study/department_month.html", status=status, dept=dept, month=month, plan=plan, sessions=sessions,
                  cell_label=CELL_STATES[cell.state] if cell else CELL_STATES["none"],
                  cell_badge=cell.badge if cell else "off", can_submit=can_submit, editable=editable,
                  session_form=session_form or SessionForm(formdata=None), first=first, last=last,
                  submit_form=submit_form or SubmitPlanForm(formdata=None), start_form=StartRecordForm(formdata=None),
                  prev_month=previous_month(month), next_month=next_month(month), today=local_today(), error=error)


@bp.route("/departments/<int:department_id>/<month>")
@require(VIEW)
def department_month(department_id: int, month: str):
    """One department's month: its plan, sessions and records, and what the user may do next."""
    return _page(department_or_404(department_id, VIEW), month_or_400(month))


@bp.route("/departments/<int:department_id>/<month>/sessions", methods=["POST"])
@require(SUBMIT)
def add_session(department_id: int, month: str):
    """Add a planned session to the department's plan of the month."""
    dept, month = department_or_404(department_id, SUBMIT, seen_with=VIEW), month_or_400(month)
    form = SessionForm()
    if form.validate_on_submit():
        try:
            plan = services.plan_for(dept.id, month)
            services.add_session(plan, day=form.day.data, topic=form.topic.data, speaker=form.speaker.data,
                                 attendees=form.attendees.data, minutes=form.minutes.data)
        except ServiceError as error:
            form.apply_error(error)
            return _page(dept, month, session_form=form, status=error.status, error=_unfielded(error))
        flash("已加入学习计划。", "success")
        return redirect(url_for("study.department_month", department_id=dept.id, month=f"{month:%Y-%m}"), 303)
    return _page(dept, month, session_form=form, status=422)


@bp.route("/departments/<int:department_id>/<month>/sessions/<int:session_id>/delete", methods=["POST"])
@require(SUBMIT)
def delete_session(department_id: int, month: str, session_id: int):
    """Remove a planned session that has no record."""
    dept, month = department_or_404(department_id, SUBMIT, seen_with=VIEW), month_or_400(month)
    plan = services.find_plan(dept.id, month)
    try:
        if plan is None:
            raise ServiceError("没有这条学习安排。", status=404)
        services.remove_session(plan, session_id)
    except ServiceError as error:
        return _page(dept, month, status=error.status, error=error.message)
    flash("已删除这条学习安排。", "success")
    return redirect(url_for("study.department_month", department_id=dept.id, month=f"{month:%Y-%m}"), 303)


@bp.route("/departments/<int:department_id>/<month>/submit", methods=["POST"])
@require(SUBMIT)
def submit_plan(department_id: int, month: str):
    """Submit the month's plan (with attachments) to medical affairs for review."""
    dept, month = department_or_404(department_id, SUBMIT, seen_with=VIEW), month_or_400(month)
    form = SubmitPlanForm()
    if form.validate_on_submit():
        try:
            files = uploaded_files()
            plan = services.find_plan(dept.id, month)
            if plan is None:
                raise ServiceError("请至少安排一次学习再提交。", field="note")
            services.submit_plan(plan, current_user, form.note.data, files)
        except ServiceError as error:
            form.apply_error(error)
            return _page(dept, month, submit_form=form, status=error.status, error=_unfielded(error))
        flash("学习计划已提交，等待医务科审核。", "success")
        return redirect(url_for("study.department_month", department_id=dept.id, month=f"{month:%Y-%m}"), 303)
    return _page(dept, month, submit_form=form, status=422)


