"""Audit log and login log: filter, page, export; and the chain check. Nothing here edits a record."""

from __future__ import annotations

from flask import current_app, request

from portal.auth.models import LOGIN_EVENTS
from portal.auth.permissions import VIEW_AUDIT
from portal.core import audit
from portal.core.listing import arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.io.export import export_registered

from . import bp
from .exports import audit_filters, filter_args, login_filters
from .queries import audit_query, login_query


@bp.route("/")
@require(VIEW_AUDIT)
def list_audit_logs():
    """Every recorded change, newest first, with filters."""
    f = audit_filters()
    page = paginate(audit_query(f), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("audit/audit_list.html", "audit/_audit_rows.html", page=page, filters=f, args=filter_args(f),
                  entity_types=audit.ENTITY_TYPES, actions=audit.ACTIONS)


@bp.route("/export")
@require(VIEW_AUDIT)
def export_audit_logs():
    """The audit log with the current filters, as .xlsx (a background job when it is large)."""
    return export_registered("audit_log", request.args)


@bp.route("/logins")
@require(VIEW_AUDIT)
def list_login_events():
    """Sign-ins, failures, lockouts, sign-outs and timeouts."""
    f = login_filters()
    page = paginate(login_query(f), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("audit/login_list.html", "audit/_login_rows.html", page=page, filters=f, args=filter_args(f),
                  events=LOGIN_EVENTS)


@bp.route("/logins/export")
@require(VIEW_AUDIT)
def export_login_events():
    """The login log with the current filters, as .xlsx (a background job when it is large)."""
    return export_registered("login_event", request.args)


@bp.route("/verify")
@require(VIEW_AUDIT)
def verify_audit_chain():
    """Recompute the hash chain, check every anchor, and show the first broken or missing record, if any."""
    from portal.core.audit_chain import anchor_path

    report = audit.verify_chain()
    return render("audit/verify.html", report=report, anchor_file=str(anchor_path()))
