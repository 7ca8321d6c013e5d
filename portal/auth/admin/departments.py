"""The department tree: hospital > division > department > ward."""

from __future__ import annotations

from flask import flash, request, url_for

from portal.core.forms import select_choices
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError

from .. import org, queries
from ..forms import DepartmentForm
from ..models import Department
from ..permissions import MANAGE_DEPARTMENTS
from . import bp


@bp.route("/departments")
@require(MANAGE_DEPARTMENTS)
def list_departments():
    """The whole tree, indented, with staff counts."""
    return render("admin/department_list.html", departments=org.department_tree(),
                  staff_counts=org.staff_counts())


def _form(dept: Department | None = None) -> DepartmentForm:
    form = DepartmentForm(formdata=None, obj=dept) if request.method == "GET" else DepartmentForm()
    if request.method == "GET" and dept is None:
        parent = request.args.get("parent_id", "")
        form.parent_id.data = int(parent) if parent.isdigit() else None
    choices = queries.department_choices(blank="（无上级：医院）")
    if dept is not None:  # a department cannot move under itself or its own subtree
        own = f"/{dept.id}/"
        below = {d.id for d in org.department_tree() if own in d.path}
        choices = [c for c in choices if c[0] == "" or (c[0] != dept.id and c[0] not in below)]
    form.parent_id.choices = select_choices(choices)
    return form


@bp.route("/departments/new", methods=["GET", "POST"])
@require(MANAGE_DEPARTMENTS)
def new_department():
    """Add a node to the tree."""
    form = _form()
    if form.validate_on_submit():
        try:
            dept = org.create_department(name=form.name.data, code=form.code.data, kind=form.kind.data,
                                         parent_id=form.parent_id.data, sort_order=form.sort_order.data or 0,
                                         clinical=form.clinical.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已添加 {dept.kind_label} {dept.name}。", "success")
            return htmx_redirect(url_for("admin.list_departments"))
    status = 422 if request.method == "POST" else 200
    return render("admin/department_form.html", "admin/_department_form.html", status=status, form=form, dept=None)


@bp.route("/departments/<int:department_id>", methods=["GET", "POST"])
@require(MANAGE_DEPARTMENTS)
def edit_department(department_id: int):
    """Rename, move, reorder or disable a node."""
    dept = get_or_404(Department, department_id)
    form = _form(dept)
    if form.validate_on_submit():
        try:
            org.update_department(dept, name=form.name.data, code=form.code.data, kind=form.kind.data,
                                  parent_id=form.parent_id.data, sort_order=form.sort_order.data or 0,
                                  is_active=form.is_active.data, clinical=form.clinical.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已保存 {dept.name}。", "success")
            return htmx_redirect(url_for("admin.list_departments"))
    status = 422 if request.method == "POST" else 200
    return render("admin/department_form.html", "admin/_department_form.html", status=status, form=form, dept=dept)
