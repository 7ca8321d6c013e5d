"""A study record: opening it for a planned session, its minutes, the attendance ticks, the sign-in QR code and
the submission for review."""

from __future__ import annotations

import io

from flask import Response, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.approvals.models import ApprovalAttachment
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404, get_scoped_or_404
from portal.core.service import ServiceError
from portal.extensions import db

from .. import SUBMIT, VIEW, bp
from ..attendance.services import window
from ..common import uploaded_files
from ..models import ATTENDANCE_METHODS, StudyRecord, StudySession
from . import services
from .forms import RecordForm, StartRecordForm


def _record_page(record: StudyRecord, form: RecordForm | None = None, status: int = 200, error: str = ""):
    can_submit = current_user.principal.can_act_on(SUBMIT, record.department_id)
    editable = can_submit and record.status in services.EDITABLE
    attachments = []
    if record.approval_id:
        attachments = db.session.scalars(select(ApprovalAttachment).where(
            ApprovalAttachment.instance_id == record.approval_id).order_by(ApprovalAttachment.id)).all()
    present = {a.staff_id for a in record.attendance}
    opens, closes = window(record)
    return render("study/record_detail.html", status=status, record=record, editable=editable,
                  form=form or RecordForm(formdata=None, obj=record), attachments=attachments,
                  staff=services.department_staff(record.department_id) if editable else [], present=present,
                  methods=ATTENDANCE_METHODS, opens=opens, closes=closes, error=error,
                  signin_url=url_for("study.sign_in", token=record.signin_token, _external=True),
                  total_minutes=sum(a.minutes for a in record.attendance))


def _record(record_id: int, perm) -> StudyRecord:
    return get_scoped_or_404(StudyRecord, record_id, current_user.principal, perm,
                             seen_with=VIEW if perm is not VIEW else None)


@bp.route("/sessions/<int:session_id>/record", methods=["POST"])
@require(SUBMIT)
def start_record(session_id: int):
    """Open the record of a planned session: from now on attendees can sign in during its window."""
    session = get_or_404(StudySession, session_id)
    principal = current_user.principal
    if not principal.can_act_on(SUBMIT, session.plan.department_id):
        abort(403 if principal.can_act_on(VIEW, session.plan.department_id) else 404)
    form = StartRecordForm()
    back = url_for("study.department_month", department_id=session.plan.department_id,
                   month=f"{session.plan.month:%Y-%m}")
    if form.validate_on_submit():
        try:
            record = services.start_record(session, current_user, starts=form.starts.data, minutes=form.minutes.data)
        except ServiceError as error:
            return render("study/message.html", status=error.status, message=error.message, back=back)
        flash("学习记录已建立：可以展示签到二维码或勾选出勤。", "success")
        return redirect(url_for("study.view_record", record_id=record.id), 303)
    message = "；".join(e for errors in form.errors.values() for e in errors) or "请填写开始时间和时长。"
    return render("study/message.html", status=422, message=message, back=back)


@bp.route("/records/<int:record_id>")
@require(VIEW)
def view_record(record_id: int):
    """One record: facts, attendance with minutes, the sign-in code, files, and the actions open to the user."""
    return _record_page(_record(record_id, VIEW))


@bp.route("/records/<int:record_id>", methods=["POST"])
@require(SUBMIT)
def update_record(record_id: int):
    """Save the record's speaker, duration and minutes."""
    record = _record(record_id, SUBMIT)
    form = RecordForm()
    if form.validate_on_submit():
        try:
            services.update_record(record, speaker=form.speaker.data, minutes=form.minutes.data,
                                   summary=form.summary.data)
        except ServiceError as error:
            form.apply_error(error)
            return _record_page(record, form, error.status)
        flash("学习记录已保存。", "success")
        return redirect(url_for("study.view_record", record_id=record.id), 303)
    return _record_page(record, form, 422)


@bp.route("/records/<int:record_id>/attendance", methods=["POST"])
@require(SUBMIT)
def tick_attendance(record_id: int):
    """The secretary's ticks: who of the department attended."""
    record = _record(record_id, SUBMIT)
    try:
        ids = {int(v) for v in request.form.getlist("staff_ids")}
    except ValueError:
        return _record_page(record, status=422, error="出勤人员选择有误，请刷新后重试。")
    try:
        added, removed = services.set_attendance(record, ids)
    except ServiceError as error:
        return _record_page(record, status=error.status, error=error.message)
    flash(f"出勤已保存：新增 {added} 人，移除 {removed} 人。", "success")
    return redirect(url_for("study.view_record", record_id=record.id), 303)


@bp.route("/records/<int:record_id>/submit", methods=["POST"])
@require(SUBMIT)
def submit_record(record_id: int):
    """Submit the record with its photos and files to medical affairs."""
    record = _record(record_id, SUBMIT)
    try:
        services.submit_record(record, current_user, uploaded_files())
    except ServiceError as error:
        return _record_page(record, status=error.status, error=error.message)
    flash("学习记录已提交，等待医务科审核。", "success")
    return redirect(url_for("study.view_record", record_id=record.id), 303)


@bp.route("/records/<int:record_id>/qr.svg")
@require(VIEW)
def record_qr(record_id: int):
    """The sign-in link as a QR code (SVG, drawn on the server)."""
    import segno

    record = _record(record_id, VIEW)
    buffer = io.BytesIO()
    segno.make(url_for("study.sign_in", token=record.signin_token, _external=True), error="m").save(
        buffer, kind="svg", scale=6, border=2, xmldecl=False)
    return Response(buffer.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=300"})
