"""Server-side sessions: sign-in and sign-out, loading the signed-in user, idle and absolute timeouts,
forced password change, and the request's actor."""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from portal.core.actor import Actor, reset_actor, set_actor
from portal.core.timeutil import utcnow
from portal.extensions import db, login_manager

from .models import User, UserSession

# Endpoints a user who must change their password may still reach.
PASSWORD_CHANGE_ALLOWED = {"auth.change_password", "auth.logout", "static", "main.healthz", "notify.unread_badge"}
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# last_seen_at is refreshed at most this often, and only by requests that write anyway.
TOUCH_EVERY = timedelta(minutes=5)


API_PREFIX = "/api/"


def is_api_request() -> bool:
    """/api/ is for other systems with a token: no session cookie is read or set, no browser session rules run."""
    return request.path.startswith(API_PREFIX)


class PageSessionInterface(SecureCookieSessionInterface):
    """The signed session cookie of pages; an /api/ request gets the null session (never loaded, never saved,
    any write to it fails), so a browser's cookie can never authenticate an API call."""

    def open_session(self, app, request):
        if request.path.startswith(API_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def client_ip() -> str:
    # Behind nginx, ProxyFix (see create_app) has already put the client address here.
    return request.remote_addr or ""


def sign_in(user: User) -> None:
    """Start a server-side session for this browser (a fresh cookie, whatever it held before)."""
    from .services import open_session

    session.clear()
    open_session(user, ip=client_ip(), user_agent=request.user_agent.string)
    login_user(user)
    session.permanent = True
    session["seen"] = int(time.time())


def sign_out(reason: str) -> None:
    """End this browser's server-side session and clear its cookie; the caller commits."""
    from .services import end_session

    row = g.get("user_session")
    if row is not None:
        end_session(row, reason)
    logout_user()
    session.clear()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of an open, unexpired server-side session: one query for the user and the session row."""
    from .services import session_key_hash

    ident, _, key = user_id.partition(":")
    try:
        pk = int(ident)
    except ValueError:
        return None
    if not key:
        return None
    row = db.session.execute(
        select(User, UserSession).join(UserSession, UserSession.user_id == User.id)
        .where(User.id == pk, UserSession.key_hash == session_key_hash(key))
    ).first()
    if row is None:
        return None
    user, user_session = row
    if user_session.ended_at is not None or not user.is_active_flag:
        return None
    max_age = timedelta(hours=current_app.config["SESSION_MAX_HOURS"])
    if utcnow() - user_session.created_at > max_age:
        g.expired_session = (user, user_session)
        return None
    user.session_key = key
    g.user_session = user_session
    return user


def _leave(message: str):
    """Send a browser whose session just ended to the login page, with the reason."""
    flash(message, "warning")
    if request.headers.get("HX-Request"):
        response = current_app.response_class("", 401)
        response.headers["HX-Redirect"] = url_for("auth.login")
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def init_session_handling(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "basic"
    app.session_interface = PageSessionInterface()

    @app.before_request
    def _session_rules():
        if request.endpoint == "static" or is_api_request():
            return None
        from .services import end_session, log_login_event

        idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
        now = int(time.time())
        if not current_user.is_authenticated:
            expired = g.pop("expired_session", None)
            if expired is not None:
                user, user_session = expired
                log_login_event("session_expired", user.login_name, user, client_ip(), request.user_agent.string)
                end_session(user_session, "expired")
                db.session.commit()
                session.clear()
                hours = current_app.config["SESSION_MAX_HOURS"]
                return _leave(f"登录已超过 {hours} 小时，为安全起见请重新登录。")
            return None
        last = session.get("seen", now)
        if now - last > idle:
            log_login_event("timeout", current_user.login_name, current_user, client_ip(), request.user_agent.string)
            sign_out("timeout")
            db.session.commit()
            return _leave(f"超过 {idle // 60} 分钟未操作，已自动退出，请重新登录。")
        # Polling partials (unread counts) must not keep an idle session alive.
        if not request.headers.get("X-Portal-Background"):
            session["seen"] = now
        user_session = g.get("user_session")
        if request.method in WRITE_METHODS and user_session is not None \
                and utcnow() - user_session.last_seen_at > TOUCH_EVERY:
            user_session.last_seen_at = utcnow()
        if current_user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ALLOWED:
            if request.headers.get("HX-Request"):
                response = current_app.response_class("", 204)
                response.headers["HX-Redirect"] = url_for("auth.change_password")
                return response
            return redirect(url_for("auth.change_password"))
        return None

    @app.before_request
    def _bind_actor():
        if is_api_request():  # the token's account once authenticated (portal.api.auth), never a session's
            actor = Actor(None, "匿名", client_ip(), request.user_agent.string[:255])
        elif current_user.is_authenticated:
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
