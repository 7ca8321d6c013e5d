"""The notification centre, the unread badge, and the WeCom delivery log."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import SIGNED_IN, require
from portal.core.rendering import render

from . import VIEW_OUTBOX, bp, outbox, services
from .models import OUTBOX_STATES, OutboxMessage, categories

CHANGED = {"notifications-changed": True}


def _centre_context() -> dict:
    category = arg_choice("category", categories())
    unread_only = arg_choice("unread", ("1",)) == "1"
    page = services.list_notifications(current_user.id, category, unread_only, arg_int("page", 1),
                                       current_app.config["PAGE_SIZE"])
    args = {"category": category, "unread": "1" if unread_only else ""}
    return {"page": page, "args": args, "categories": categories(), "category": category, "unread_only": unread_only,
            "unread_total": services.unread_count(current_user.id)}


@bp.route("")
@require(SIGNED_IN)
def list_notifications():
    """The user's notifications, newest first, by category."""
    return render("notify/notification_list.html", "notify/_notification_rows.html", **_centre_context())


@bp.route("/unread")
@require(SIGNED_IN)
def unread_badge():
    """The unread count for the layout (polled by htmx; does not keep an idle session alive)."""
    return render("notify/_unread_badge.html", count=services.unread_count(current_user.id))


@bp.route("/<int:notification_id>/read", methods=["POST"])
@require(SIGNED_IN)
def read_notification(notification_id: int):
    """Mark one notification read, then follow its link (or refresh the list for htmx)."""
    note = services.mark_read(current_user.id, notification_id)
    if note is None:
        abort(404)
    if request.headers.get("HX-Request"):
        return render("notify/_notification_rows.html", trigger=CHANGED, **_centre_context())
    return redirect(note.link or url_for("notify.list_notifications"), 303)


@bp.route("/read-all", methods=["POST"])
@require(SIGNED_IN)
def read_all_notifications():
    """Mark every (or every shown category's) notification read."""
    count = services.mark_all_read(current_user.id, arg_choice("category", categories()))
    if request.headers.get("HX-Request"):
        return render("notify/_notification_rows.html", trigger=CHANGED, **_centre_context())
    flash(f"已将 {count} 条通知标为已读。", "success")
    return redirect(url_for("notify.list_notifications"), 303)


@bp.route("/outbox")
@require(VIEW_OUTBOX)
def list_outbox():
    """WeCom deliveries with their state and the reason of each failure."""
    status = arg_choice("status", OUTBOX_STATES)
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    page = paginate(stmt, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("notify/outbox_list.html", "notify/_outbox_rows.html", page=page, args={"status": status},
                  states=OUTBOX_STATES, status_filter=status)


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@require(VIEW_OUTBOX)
def retry_outbox_message(message_id: int):
    """Send a failed message again."""
    if outbox.retry_failed(message_id) is None:
        abort(404)
    flash("已重新排队发送。", "success")
    return redirect(url_for("notify.list_outbox"), 303)

