"""Open violations: list (kind, department, surgeon, period), export, and handling one."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth.queries import department_choices
from portal.core.listing import arg_choice, arg_date, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_scoped_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import format_datetime
from portal.io.export import Column, export_query

from .. import bp
from ..models import PRIVILEGE_REASONS, VIOLATION_KINDS, VIOLATION_STATUSES, QualityViolation
from . import HANDLE, services
from .forms import HandleForm


def _filters():
    principal = current_user.principal
    department_id = arg_int("department_id")
    if department_id is not None and not principal.can_act_on(HANDLE, department_id):
        abort(404)
    kind = arg_choice("kind", VIOLATION_KINDS)
    status = arg_choice("status", {**VIOLATION_STATUSES, "all": "全部"}, "open")
    staff_id, start, end = arg_int("staff_id"), arg_date("start"), arg_date("end")
    args = {"kind": kind, "status": status, "department_id": department_id or "", "staff_id": staff_id or "",
            "start": start.isoformat() if start else "", "end": end.isoformat() if end else ""}
    stmt = services.list_query(principal, kind=kind, status="" if status == "all" else status,
                               department_id=department_id, staff_id=staff_id, start=start, end=end)
    return stmt, args


@bp.route("/violations")
@require(HANDLE)
def list_violations():
    """Violations found in the surgeries (default: open ones), in the user's departments."""
    stmt, args = _filters()
    page = paginate(services.list_page(stmt), arg_int("page", 1), current_app.config["PAGE_SIZE"], scalars=False,
                    count_stmt=stmt)
    return render("quality/violations/list.html", "quality/violations/_rows.html", page=page, args=args,
                  kinds=VIOLATION_KINDS, reasons=PRIVILEGE_REASONS, statuses={**VIOLATION_STATUSES, "all": "全部"},
                  departments=department_choices(current_user.principal, HANDLE))


@bp.route("/violations/export")
@require(HANDLE)
def export_violations():
    """The violation list as filtered, as .xlsx (病案号 masked)."""
    stmt, args = _filters()
    columns = [Column("手术日期", lambda v: v.operation_date, 12), Column("类型", lambda v: v.kind_label, 22),
               Column("原因", lambda v: v.reason_label, 28), Column("手术科室", lambda v: v.department.name, 14),
               Column("主刀", lambda v: v.staff.name, 10), Column("手术记录号", lambda v: v.surgery.record_id, 18),
               Column("病案号", lambda v: v.surgery.masked_mrn, 12),
               Column("手术", lambda v: v.surgery.operation_name, 28),
               Column("开始时间", lambda v: format_datetime(v.surgery.started_at), 18),
               Column("状态", lambda v: v.status_label, 12), Column("处理说明", lambda v: v.note, 30)]
    return export_query(stmt, columns, "事后监管问题", args, "quality_violation")


def _detail(violation, form=None, status=200):
    return render("quality/violations/detail.html", status=status, v=violation, form=form or HandleForm(formdata=None),
                  override=services.matching_override(violation))


@bp.route("/violations/<int:violation_id>", methods=["GET", "POST"])
@require(HANDLE)
def handle_violation(violation_id: int):
    """One violation, and its handling (explained, emergency confirmed, or a supervision finding)."""
    violation = get_scoped_or_404(QualityViolation, violation_id, current_user.principal, HANDLE)
    if request.method == "GET":
        return _detail(violation)
    form = HandleForm()
    if form.validate_on_submit():
        try:
            services.handle(violation, current_user, form.action.data, form.note.data, form.deadline.data)
        except ServiceError as error:
            form.apply_error(error)
            return _detail(violation, form, error.status)
        flash("已处理。", "success")
        return redirect(url_for("quality.list_violations"), 303)
    return _detail(violation, form, 422)
