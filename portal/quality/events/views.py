"""Quality events: the list by date and kind (unmatched ones listed for correction), and linking one."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, url_for
from flask_login import current_user

from portal.auth.queries import department_choices
from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.io.export import Column, export_query

from .. import IMPORT, VIEW, bp
from ..listing import period_and_department
from ..models import EVENT_KINDS, EVENT_STATUSES, QualityEvent
from . import queries, services
from .forms import LinkForm


def _filters():
    month, start, end, department_id = period_and_department(current_user.principal, VIEW)
    kind, status = arg_choice("kind", EVENT_KINDS), arg_choice("status", EVENT_STATUSES)
    args = {"month": f"{month:%Y-%m}", "department_id": department_id or "", "kind": kind, "status": status}
    return queries.list_query(current_user.principal, start, end, department_id, kind, status), args, month


@bp.route("/events")
@require(VIEW)
def list_events():
    """A month's quality events (default: last month) by kind and state; 未关联 ones wait for correction."""
    stmt, args, month = _filters()
    page = paginate(stmt, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("quality/events/list.html", "quality/events/_rows.html", page=page, args=args, month=month,
                  kinds=EVENT_KINDS, statuses=EVENT_STATUSES,
                  departments=department_choices(current_user.principal, VIEW))


@bp.route("/events/export")
@require(VIEW)
def export_events():
    """The event list as filtered, as .xlsx."""
    stmt, args, _ = _filters()
    columns = [Column("类别", lambda e: e.kind_label, 16), Column("事件编号", lambda e: e.event_no, 22),
               Column("状态", lambda e: e.status_label, 8), Column("手术记录号", lambda e: e.surgery_record_id, 18),
               Column("病案号", lambda e: e.masked_mrn, 12), Column("手术日期", lambda e: e.operation_date, 12),
               Column("发生日期", lambda e: e.event_date, 12), Column("名称", lambda e: e.name, 24),
               Column("感染部位", lambda e: e.ssi_label, 10), Column("间隔小时数", lambda e: e.interval_hours, 10)]
    return export_query(stmt, columns, "质量事件", args, "quality_event")


def _event(event_id: int) -> QualityEvent:
    event = get_or_404(QualityEvent, event_id)
    if not queries.visible(current_user.principal, event):
        abort(404)
    return event


@bp.route("/events/<int:event_id>")
@require(VIEW)
def view_event(event_id: int):
    """One event: its facts and surgery; an unmatched one can be linked by its surgery record id."""
    event = _event(event_id)
    return render("quality/events/detail.html", event=event, form=LinkForm())


@bp.route("/events/<int:event_id>/link", methods=["POST"])
@require(IMPORT)
def link_event(event_id: int):
    """Link an event to the surgery named by its record id (the correction of an unmatched row)."""
    event = _event(event_id)
    form = LinkForm()
    if form.validate_on_submit():
        try:
            services.link_event(event, form.surgery_record_id.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("已关联到手术记录，指标随之更新。", "success")
            return redirect(url_for("quality.view_event", event_id=event.id), 303)
    return render("quality/events/detail.html", status=422, event=event, form=form)
