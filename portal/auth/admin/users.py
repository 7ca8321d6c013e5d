"""User administration: list, create, edit, activate/deactivate, reset password, unlock."""

from __future__ import annotations

from flask import abort, current_app, flash, request, url_for
from flask_login import current_user

from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, arg_str, parse_sort
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.io.export import Column, export_query

from .. import queries, services
from ..forms import NewUserForm, ResetPasswordForm, UserForm
from ..models import User
from ..passwords import POLICY_TEXT
from ..permissions import MANAGE_USERS
from . import bp

STATUSES = {"active": "启用", "inactive": "停用", "locked": "锁定中"}


def _user_filters():
    """The list's filters and sort from the query string, and the same as URL arguments."""
    filters = queries.UserFilters(
        q=arg_str("q"),
        department_id=arg_int("department_id"),
        role_id=arg_int("role_id"),
        status=arg_choice("status", STATUSES),
    )
    sort = parse_sort(queries.USER_SORTS, "login_name")
    args = {"q": filters.q, "department_id": filters.department_id or "", "role_id": filters.role_id or "",
            "status": filters.status, "sort": sort.param}
    return filters, sort, args


def _user_list_context() -> dict:
    filters, sort, args = _user_filters()
    page = queries.list_users(filters, sort, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return {"page": page, "filters": filters, "sort": sort, "args": args, "statuses": STATUSES,
            "departments": queries.department_choices(), "roles": queries.role_choices()}


@bp.route("/users")
@require(MANAGE_USERS)
def list_users():
    """Users with search, filters and pagination; htmx gets the table only."""
    return render("admin/user_list.html", "admin/_user_rows.html", **_user_list_context())


@bp.route("/users/export")
@require(MANAGE_USERS)
def export_users():
    """The users list exactly as filtered, as .xlsx."""
    filters, sort, args = _user_filters()
    columns = [
        Column("登录名", lambda u: u.login_name, 16),
        Column("姓名", lambda u: u.staff.name if u.staff else "", 12),
        Column("工号", lambda u: u.staff.employee_no if u.staff else "", 12),
        Column("科室", lambda u: u.department.name if u.department else "", 16),
        Column("角色", lambda u: "、".join(r.name for r in u.roles), 30),
        Column("企业微信账号", lambda u: u.wecom_userid or "", 16),
        Column("状态", lambda u: ("启用" if u.is_active_flag else "停用") + ("，锁定中" if u.is_locked() else ""), 12),
        Column("最近登录", lambda u: u.last_login_at, 18),
    ]
    return export_query(queries.users_query(filters, sort), columns, "用户列表", args, "user")


def _fill_choices(form: UserForm, user: User | None = None) -> None:
    form.staff_id.choices = select_choices(queries.staff_choices_without_login(user.staff_id if user else None))
    form.role_ids.choices = select_choices([(r.id, r.name) for r in queries.role_choices()])


@bp.route("/users/new", methods=["GET", "POST"])
@require(MANAGE_USERS)
def new_user():
    """Create a user; the initial password must be changed at first login."""
    form = NewUserForm()
    _fill_choices(form)
    status = 200
    if form.validate_on_submit():
        try:
            user = services.create_user(login_name=form.login_name.data, password=form.password.data,
                                        staff_id=form.staff_id.data, wecom_userid=form.wecom_userid.data,
                                        role_ids=form.role_ids.data, keep=current_app.config["PASSWORD_HISTORY"])
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已创建用户 {user.login_name}。", "success")
            return htmx_redirect(url_for("admin.edit_user", user_id=user.id))
    if request.method == "POST":
        status = 422
    return render("admin/user_form.html", "admin/_user_form.html", status=status, form=form, user=None,
                  policy=POLICY_TEXT)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require(MANAGE_USERS)
def edit_user(user_id: int):
    """A user's details, roles and account actions."""
    user = get_or_404(User, user_id)
    if request.method == "GET":
        return render("admin/user_form.html", "admin/_user_form.html", **_edit_context(user))
    form = UserForm()
    _fill_choices(form, user)
    if form.validate_on_submit():
        try:
            services.update_user(user, login_name=form.login_name.data, staff_id=form.staff_id.data,
                                 wecom_userid=form.wecom_userid.data, role_ids=form.role_ids.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("已保存。", "success")
            return htmx_redirect(url_for("admin.edit_user", user_id=user.id))
    return render("admin/user_form.html", "admin/_user_form.html", status=422, **_edit_context(user, form))


def _edit_context(user: User, form: UserForm | None = None, reset_form: ResetPasswordForm | None = None,
                  action_error: str | None = None) -> dict:
    """One context for the edit page and its two partials (details form, account actions)."""
    if form is None:
        form = UserForm(formdata=None, obj=user)
        form.role_ids.data = [r.id for r in user.roles]
        _fill_choices(form, user)
    return {"user": user, "form": form, "reset_form": reset_form or ResetPasswordForm(formdata=None),
            "action_error": action_error, "policy": POLICY_TEXT}


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@require(MANAGE_USERS)
def toggle_user(user_id: int):
    """Deactivate or re-activate an account (a deactivated user is signed out at once)."""
    user = get_or_404(User, user_id)
    if request.form.get("active") not in ("0", "1"):
        abort(400, "请求缺少“启用/停用”参数，请刷新页面后重试。")
    activate = request.form["active"] == "1"
    try:
        services.set_user_active(user, activate, acting_user_id=current_user.id)
    except ServiceError as error:
        return render("admin/user_form.html", "admin/_user_actions.html", status=error.status,
                      **_edit_context(user, action_error=error.message))
    flash(f"已{'启用' if activate else '停用'}用户 {user.login_name}。", "success")
    return htmx_redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@require(MANAGE_USERS)
def reset_password(user_id: int):
    """Set a temporary password that the user must change at next login."""
    user = get_or_404(User, user_id)
    reset_form = ResetPasswordForm()
    if reset_form.validate_on_submit():
        try:
            services.reset_password(user, reset_form.password.data, keep=current_app.config["PASSWORD_HISTORY"])
        except ServiceError as error:
            reset_form.apply_error(error)
        else:
            flash(f"已重置 {user.login_name} 的密码，用户下次登录时须修改。", "success")
            return htmx_redirect(url_for("admin.edit_user", user_id=user.id))
    return render("admin/user_form.html", "admin/_user_actions.html", status=422,
                  **_edit_context(user, reset_form=reset_form))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@require(MANAGE_USERS)
def unlock_user(user_id: int):
    """Lift a lockout after failed logins."""
    user = get_or_404(User, user_id)
    services.unlock_user(user)
    flash(f"已解锁 {user.login_name}。", "success")
    return htmx_redirect(url_for("admin.edit_user", user_id=user.id))
