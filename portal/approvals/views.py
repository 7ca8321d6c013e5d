"""Approval pages: todo, my requests, handled, the instance page and its actions, attachments."""

from __future__ import annotations

import io

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.core.listing import arg_choice, arg_int
from portal.core.permissions import SIGNED_IN, has_permission, require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.extensions import db

from . import VIEW_ALL, bp, queries, services, subjects
from .models import INSTANCE_STATES, STATE_BADGE, TASK_STATES, ApprovalAttachment, ApprovalInstance

CHANGED = {"approvals-changed": True, "notifications-changed": True}
MAX_FILES = 5
TASK_LABELS = {"task_states": TASK_STATES, "state_badges": STATE_BADGE}


@bp.route("/todo")
@require(SIGNED_IN)
def list_todo():
    """Tasks waiting for the signed-in user, the most urgent first."""
    page = queries.todo(current_user.id, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("approvals/todo_list.html", "approvals/_task_rows.html", page=page, args={},
                  endpoint="approvals.list_todo", empty="没有待您审批的事项。", **TASK_LABELS)


@bp.route("/done")
@require(SIGNED_IN)
def list_done():
    """Tasks the signed-in user has decided."""
    page = queries.done(current_user.id, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("approvals/done_list.html", "approvals/_task_rows.html", page=page, args={},
                  endpoint="approvals.list_done", empty="您还没有处理过审批。", **TASK_LABELS)


@bp.route("/mine")
@require(SIGNED_IN)
def list_mine():
    """Requests the signed-in user has submitted."""
    status = arg_choice("status", INSTANCE_STATES)
    page = queries.mine(current_user.id, status, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("approvals/mine_list.html", "approvals/_instance_rows.html", page=page, args={"status": status},
                  status_filter=status, states=INSTANCE_STATES)


def _visible_instance(instance_id: int) -> ApprovalInstance:
    instance = get_or_404(ApprovalInstance, instance_id)
    if not services.can_view(instance, current_user, has_permission(current_user, VIEW_ALL)):
        abort(404)
    return instance


def _instance_context(instance: ApprovalInstance, error: str | None = None) -> dict:
    try:
        summary = subjects.subject_for(instance.entity_type).summary(instance.entity_id)
    except LookupError:
        summary = None
    attachments = db.session.scalars(select(ApprovalAttachment).where(
        ApprovalAttachment.instance_id == instance.id).order_by(ApprovalAttachment.id)).all()
    task = services.open_task_for(instance, current_user)
    return {"instance": instance, "summary": summary, "attachments": attachments, "task": task, "error": error,
            "transfer_choices": services.transfer_candidates(task) if task else [],
            "is_applicant": instance.applicant_id == current_user.id}


@bp.route("/<int:instance_id>")
@require(SIGNED_IN)
def view_instance(instance_id: int):
    """One request: the object's summary and attachments, the timeline, and the actions open to the user."""
    instance = _visible_instance(instance_id)
    return render("approvals/instance.html", **_instance_context(instance))


def _uploads() -> list[tuple[str, bytes]]:
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    if len(files) > MAX_FILES:
        raise ServiceError(f"一次最多上传 {MAX_FILES} 个附件。", field="attachments")
    return [(f.filename, f.read()) for f in files]


def _after_action(instance_id: int, message: str, call):
    instance = _visible_instance(instance_id)
    try:
        call(instance)
    except ServiceError as error:
        return render("approvals/instance.html", "approvals/_instance_body.html", status=error.status,
                      **_instance_context(instance, error.message))
    if request.headers.get("HX-Request"):
        db.session.flush()
        instance = db.session.get(ApprovalInstance, instance_id, populate_existing=True)
        return render("approvals/_instance_body.html", trigger=CHANGED, **_instance_context(instance, None),
                      done_message=message)
    flash(message, "success")
    return redirect(url_for("approvals.view_instance", instance_id=instance_id), 303)


@bp.route("/<int:instance_id>/act", methods=["POST"])
@require(SIGNED_IN)
def act_on_instance(instance_id: int):
    """Approve, reject, return or transfer the signed-in user's open task of this request."""
    action = request.form.get("action", "")
    labels = {"approve": "已通过", "reject": "已驳回", "return": "已退回申请人修改", "transfer": "已转办"}
    if action not in labels:
        abort(400, "无效的审批操作。")

    def call(instance):
        task = services.open_task_for(instance, current_user)
        if task is None:
            raise ServiceError("您在这一步没有待处理的任务（可能已被处理、撤回或转办）。", status=409)
        transfer_to = None
        if action == "transfer":
            # A user id from the list of eligible people; the service refuses anyone else (forged ids too).
            raw = request.form.get("transfer_to", "").strip()
            transfer_to = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else -1
        services.act(task.id, current_user, action, request.form.get("comment", ""), transfer_to, _uploads())

    return _after_action(instance_id, labels[action], call)


@bp.route("/<int:instance_id>/resubmit", methods=["POST"])
@require(SIGNED_IN)
def resubmit_instance(instance_id: int):
    """The applicant sends a returned request back into approval."""
    return _after_action(instance_id, "已重新提交", lambda i: services.resubmit(
        i.id, current_user, request.form.get("comment", ""), _uploads()))


@bp.route("/<int:instance_id>/withdraw", methods=["POST"])
@require(SIGNED_IN)
def withdraw_instance(instance_id: int):
    """The applicant withdraws a request in progress."""
    return _after_action(instance_id, "已撤回", lambda i: services.withdraw(
        i.id, current_user, request.form.get("comment", "")))


@bp.route("/<int:instance_id>/comment", methods=["POST"])
@require(SIGNED_IN)
def comment_instance(instance_id: int):
    """Add a comment (and attachments) to the timeline."""
    return _after_action(instance_id, "已添加评论", lambda i: services.add_comment(
        i.id, current_user, request.form.get("comment", ""), _uploads()))


def _attachment(attachment_id: int) -> ApprovalAttachment:
    item = get_or_404(ApprovalAttachment, attachment_id)
    _visible_instance(item.instance_id)
    return item


@bp.route("/attachments/<int:attachment_id>")
@require(SIGNED_IN)
def download_attachment(attachment_id: int):
    """An attachment, shown inline (images, PDF) so it opens inside the WeCom webview."""
    item = _attachment(attachment_id)
    from urllib.parse import quote

    disposition = "inline" if item.kind in ("image", "pdf") else "attachment"
    response = Response(item.content, mimetype=item.content_type)
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(item.filename)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return response


@bp.route("/attachments/<int:attachment_id>/table")
@require(SIGNED_IN)
def view_attachment_table(attachment_id: int):
    """An Excel attachment rendered as a table (first sheet, first 200 rows)."""
    item = _attachment(attachment_id)
    if item.kind != "xlsx":
        abort(404)
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(item.content), read_only=True, data_only=True)
        sheet = wb.worksheets[0]
        rows = [["" if v is None else v for v in row] for _, row in zip(range(200), sheet.iter_rows(values_only=True),
                                                                         strict=False)]
        wb.close()
    except Exception:  # a damaged file: say so rather than fail
        abort(422, "该 Excel 文件无法读取，可能已损坏。")
    return render("approvals/attachment_table.html", item=item, rows=rows)

