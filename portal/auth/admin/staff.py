"""The staff register, scoped: a department head sees and edits their own department only."""

from __future__ import annotations

from flask import current_app, flash, request, url_for
from flask_login import current_user

from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, arg_str, parse_sort
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render
from portal.core.scoping import get_scoped_or_404
from portal.core.service import ServiceError
from portal.io.export import Column, export_query

from .. import org, queries
from ..forms import StaffForm
from ..models import Staff
from ..permissions import EDIT_STAFF, VIEW_STAFF
from . import bp

STATUSES = {"active": "在职", "inactive": "离职/停用"}


def _staff_filters():
    """The list's filters and sort from the query string, and the same as URL arguments."""
    filters = queries.StaffFilters(q=arg_str("q"), department_id=arg_int("department_id"),
                                   status=arg_choice("status", STATUSES))
    sort = parse_sort(queries.STAFF_SORTS, "employee_no")
    args = {"q": filters.q, "department_id": filters.department_id or "", "status": filters.status,
            "sort": sort.param}
    return filters, sort, args


def _staff_list_context() -> dict:
    principal = current_user.principal
    filters, sort, args = _staff_filters()
    page = queries.list_staff(filters, sort, arg_int("page", 1), current_app.config["PAGE_SIZE"], principal,
                              VIEW_STAFF)
    return {"page": page, "filters": filters, "sort": sort, "args": args, "statuses": STATUSES,
            "departments": queries.department_choices(principal, VIEW_STAFF)}


@bp.route("/staff")
@require(VIEW_STAFF)
def list_staff():
    """Staff within the user's departments."""
    return render("admin/staff_list.html", "admin/_staff_rows.html", **_staff_list_context())


@bp.route("/staff/export")
@require(VIEW_STAFF)
def export_staff():
    """The staff list exactly as filtered (and scoped), as .xlsx."""
    filters, sort, args = _staff_filters()
    columns = [
        Column("工号", lambda s: s.employee_no, 12),
        Column("姓名", lambda s: s.name, 12),
        Column("科室", lambda s: s.department.name, 16),
        Column("职称", lambda s: s.title, 14),
        Column("职务", lambda s: s.position, 14),
        Column("在职", lambda s: s.is_active, 8),
        Column("登录名", lambda s: s.user.login_name if s.user else "", 14),
    ]
    stmt = queries.staff_query(filters, sort, current_user.principal, VIEW_STAFF)
    return export_query(stmt, columns, "人员档案", args, "staff")


def _form(staff: Staff | None = None) -> StaffForm:
    """The staff form; its departments are those the user may edit staff in (moving out of them is refused)."""
    form = StaffForm(formdata=None, obj=staff) if request.method == "GET" else StaffForm()
    form.department_id.choices = select_choices(
        queries.department_choices(current_user.principal, EDIT_STAFF, blank="（请选择）", active_only=True))
    return form


@bp.route("/staff/new", methods=["GET", "POST"])
@require(EDIT_STAFF)
def new_staff():
    """Register a member of staff (with or without a login)."""
    form = _form()
    if form.validate_on_submit():
        try:
            staff = org.create_staff(employee_no=form.employee_no.data, name=form.name.data, title=form.title.data,
                                     position=form.position.data, department_id=form.department_id.data,
                                     within=current_user.principal.departments_for(EDIT_STAFF))
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已添加 {staff.name}。", "success")
            return htmx_redirect(url_for("admin.view_staff", staff_id=staff.id))
    status = 422 if request.method == "POST" else 200
    return render("admin/staff_form.html", "admin/_staff_form.html", status=status, form=form, staff=None)


@bp.route("/staff/<int:staff_id>")
@require(VIEW_STAFF)
def view_staff(staff_id: int):
    """One member of staff (404 outside the user's departments)."""
    staff = get_scoped_or_404(Staff, staff_id, current_user.principal, VIEW_STAFF)
    return render("admin/staff_detail.html", staff=staff)


@bp.route("/staff/<int:staff_id>/edit", methods=["GET", "POST"])
@require(EDIT_STAFF)
def edit_staff(staff_id: int):
    """Change a staff record (404 outside the user's departments, 403 where they may only look)."""
    staff = get_scoped_or_404(Staff, staff_id, current_user.principal, EDIT_STAFF, seen_with=VIEW_STAFF)
    form = _form(staff)
    if form.validate_on_submit():
        try:
            org.update_staff(staff, employee_no=form.employee_no.data, name=form.name.data, title=form.title.data,
                             position=form.position.data, department_id=form.department_id.data,
                             is_active=form.is_active.data, within=current_user.principal.departments_for(EDIT_STAFF))
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已保存 {staff.name}。", "success")
            return htmx_redirect(url_for("admin.view_staff", staff_id=staff.id))
    status = 422 if request.method == "POST" else 200
    return render("admin/staff_form.html", "admin/_staff_form.html", status=status, form=form, staff=staff)
