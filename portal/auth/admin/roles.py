"""Roles and the permissions they grant (permissions are code, roles are data)."""

from __future__ import annotations

from flask import flash, request, url_for

from portal.core.forms import select_choices
from portal.core.permissions import REGISTRY, grouped, require
from portal.core.rendering import htmx_redirect, render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError

from .. import queries, services
from ..forms import RoleForm
from ..models import Role
from ..permissions import MANAGE_ROLES
from . import bp


def _permission_choices():
    return select_choices([(p.code, p.label) for p in REGISTRY.values() if not p.implicit])


@bp.route("/roles")
@require(MANAGE_ROLES)
def list_roles():
    """All roles with their data scope and number of permissions and users."""
    return render("admin/role_list.html", roles=queries.all_roles(), registry=REGISTRY)


@bp.route("/roles/new", methods=["GET", "POST"])
@require(MANAGE_ROLES)
def new_role():
    """Create a role."""
    form = RoleForm()
    form.permissions.choices = _permission_choices()
    if form.validate_on_submit():
        try:
            role = services.create_role(code=form.code.data, name=form.name.data, description=form.description.data,
                                        data_scope=form.data_scope.data, permissions=form.permissions.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已创建角色 {role.name}。", "success")
            return htmx_redirect(url_for("admin.edit_role", role_id=role.id))
    status = 422 if request.method == "POST" else 200
    return render("admin/role_form.html", "admin/_role_form.html", status=status, form=form, role=None,
                  groups=grouped())


@bp.route("/roles/<int:role_id>", methods=["GET", "POST"])
@require(MANAGE_ROLES)
def edit_role(role_id: int):
    """Change a role's name, data scope and permissions; holders get them at their next request."""
    role = get_or_404(Role, role_id)
    if request.method == "GET":
        form = RoleForm(formdata=None, obj=role)
        form.permissions.data = sorted(role.permission_codes)
    else:
        form = RoleForm()
        form.code.data = role.code  # the code is fixed once created
    form.permissions.choices = _permission_choices()
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.update_role(role, name=form.name.data, description=form.description.data,
                                 data_scope=form.data_scope.data, permissions=form.permissions.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已保存角色 {role.name}，持有该角色的用户将在下一次操作时获得新的权限。", "success")
            return htmx_redirect(url_for("admin.edit_role", role_id=role.id))
    status = 422 if request.method == "POST" else 200
    return render("admin/role_form.html", "admin/_role_form.html", status=status, form=form, role=role,
                  groups=grouped())
