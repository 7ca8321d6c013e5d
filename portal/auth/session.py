"""Loading the signed-in user, idle timeout, forced password change, and the request's actor."""

from __future__ import annotations

import contextlib
import time

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user
from sqlalchemy import select

from portal.core.actor import Actor, reset_actor, set_actor
from portal.extensions import db, login_manager

from .models import User

# Endpoints a user who must change their password may still reach.
PASSWORD_CHANGE_ALLOWED = {"auth.change_password", "auth.logout", "static", "main.healthz", "notify.unread_badge"}


def client_ip() -> str:
    # Behind nginx, ProxyFix (see create_app) has already put the client address here.
    return request.remote_addr or ""


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    ident, _, token = user_id.partition(":")
    try:
        pk = int(ident)
    except ValueError:
        return None
    user = db.session.scalar(select(User).where(User.id == pk))
    if user is None or not token or user.session_token != token or not user.is_active_flag or user.is_locked():
        return None
    return user


def init_session_handling(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "basic"

    @app.before_request
    def _session_rules():
        if request.endpoint == "static":
            return None
        idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
        now = int(time.time())
        if current_user.is_authenticated:
            last = session.get("seen", now)
            if now - last > idle:
                from .services import log_login_event

                log_login_event("timeout", current_user.login_name, current_user, client_ip(),
                                request.user_agent.string)
                db.session.commit()
                logout_user()
                session.clear()
                flash(f"超过 {idle // 60} 分钟未操作，已自动退出，请重新登录。", "warning")
                if request.headers.get("HX-Request"):
                    response = current_app.response_class("", 401)
                    response.headers["HX-Redirect"] = url_for("auth.login")
                    return response
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            # Polling partials (unread counts) must not keep an idle session alive.
            if not request.headers.get("X-Portal-Background"):
                session["seen"] = now
            if current_user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ALLOWED:
                if request.headers.get("HX-Request"):
                    response = current_app.response_class("", 204)
                    response.headers["HX-Redirect"] = url_for("auth.change_password")
                    return response
                return redirect(url_for("auth.change_password"))
        return None

    @app.before_request
    def _bind_actor():
        if current_user.is_authenticated:
            actor = Actor(current_user.id, current_user.display_name, client_ip(), request.user_agent.string[:255])
        else:
            actor = Actor(None, "匿名", client_ip(), request.user_agent.string[:255])
        request.environ["portal.actor_token"] = set_actor(actor)

    @app.teardown_request
    def _unbind_actor(exc):
        token = request.environ.pop("portal.actor_token", None)
        if token is not None:
            with contextlib.suppress(ValueError):
                reset_actor(token)
