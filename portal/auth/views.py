"""Sign-in, sign-out and the user's own password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.core.permissions import SIGNED_IN, public, require
from portal.core.rendering import render
from portal.core.service import ServiceError
from portal.wecom import webview_signin_redirect

from . import bp, services
from .forms import ChangePasswordForm, LoginForm
from .passwords import POLICY_TEXT
from .session import client_ip, sign_in, sign_out


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target:
        return url_for("main.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("main.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """The sign-in page."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    if request.method == "GET":
        # Inside the WeCom webview the user is signed in through WeCom, without a password.
        via_wecom = webview_signin_redirect(safe_next(request.args.get("next")))
        if via_wecom is not None:
            return via_wecom
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.login_name.data, form.password.data, ip=client_ip(),
                                         user_agent=request.user_agent.string,
                                         rules=services.Lockout.from_config(current_app.config))
        except ServiceError as error:
            form.form_errors.append(error.message)
            status = 422
        else:
            sign_in(user)
            if user.must_change_password:
                flash("首次登录或密码已被重置，请先设置新密码。", "warning")
                return redirect(url_for("auth.change_password"))
            return redirect(safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 422
    return render("auth/login.html", form=form, policy=POLICY_TEXT, status=status)


@bp.route("/logout", methods=["POST"])
@require(SIGNED_IN)
def logout():
    """Sign out."""
    services.log_login_event("logout", current_user.login_name, current_user, client_ip(), request.user_agent.string)
    sign_out("logout")  # the server-side session ends: a copy of the cookie no longer works
    flash("您已安全退出。", "success")
    return redirect(url_for("auth.login"), 303)


@bp.route("/account/password", methods=["GET", "POST"])
@require(SIGNED_IN)
def change_password():
    """Change one's own password (forced at first login and after a reset)."""
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.new_password.data,
                                     keep=current_app.config["PASSWORD_HISTORY"], ip=client_ip(),
                                     user_agent=request.user_agent.string,
                                     rules=services.Lockout.from_config(current_app.config))
        except services.AccountLocked as error:
            sign_out("locked")
            flash(error.message, "error")
            return redirect(url_for("auth.login"), 303)
        except ServiceError as error:
            form.apply_error(error)
            status = 422
        else:
            # Every session of the user ended with the password change; this device gets a new one.
            sign_in(current_user._get_current_object())
            flash("密码已修改。", "success")
            return redirect(url_for("main.home"), 303)
    elif request.method == "POST":
        status = 422
    return render("auth/change_password.html", form=form, policy=POLICY_TEXT, status=status)
