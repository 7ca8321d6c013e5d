"""Server-side sessions: sign-in and sign-out, loading the signed-in user, idle and absolute timeouts,
forced password change, and the request's actor."""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select, text
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.core.actor import Actor, reset_actor, set_actor
from portal.core.timeutil import utcnow
from portal.core.workercache import GenerationCache, worker_cache
from portal.extensions import db, login_manager

from .models import Department, Staff, User, UserSession

# Endpoints a user who must change their password may still reach.
PASSWORD_CHANGE_ALLOWED = {"auth.change_password", "auth.logout", "static", "main.healthz", "notify.unread_badge"}
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# The idle timer in the signed cookie is moved on at most this often (seconds): a session may end up to this
# much before the idle limit, never after it.
SEEN_EVERY = 30
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

    row = current_session_row()
    if row is not None:
        end_session(row, reason)
    logout_user()
    session.clear()


# The signed-in user's rows (account, staff record, department) and their server-side session are cached per
# worker (per app object), keyed by the session key's hash, for one value of ``api_auth_generation``: the
# database triggers that move it for the API token cache (portal/api/tokens.py) also fire on every write to
# users, staff, departments, roles and grants and on a session's end (ended_at; not the throttled
# last_seen_at). So each page reads that one value (a primary-key read of a one-row table) instead of the
# user and session rows, and a logout, password change, deactivation or role change elsewhere is seen by
# the very next request in every worker.
GENERATION = text("SELECT value FROM api_auth_generation WHERE id = 1")
CACHE_SIZE = 4096


@dataclass(frozen=True)
class SignedIn:
    """One open session's rows as plain values (no ORM object outlives its request)."""

    user_id: int
    session_id: int
    created_at: datetime
    last_seen_at: datetime
    user: dict
    staff: dict | None
    department: dict | None

    @classmethod
    def of(cls, user: User, user_session: UserSession) -> SignedIn:
        staff = user.staff
        department = staff.department if staff is not None else None
        return cls(user.id, user_session.id, user_session.created_at, user_session.last_seen_at,
                   _columns(user, User), _columns(staff, Staff), _columns(department, Department))

    def attach(self) -> User:
        """The user as a persistent object of this request's session, built from the cached values as if just
        loaded (no query, no change to flush): services use it as the row; anything not cached (roles, the
        lock, the staff record's other links) loads on first use. Rows the session already holds are used."""
        user = _held(User, self.user["id"])
        if user is not None:
            return user
        user = _loaded(User, self.user)
        staff = None
        if self.staff is not None:
            staff = _held(Staff, self.staff["id"])
            if staff is None:
                staff = _loaded(Staff, self.staff)
                department = None
                if self.department is not None:
                    department = _held(Department, self.department["id"]) or _loaded(Department, self.department)
                set_committed_value(staff, "department", department)
        set_committed_value(user, "staff", staff)
        db.session.add(user)
        return user


def _held(model, pk: int):
    return db.session.identity_map.get(identity_key(model, pk))


def _loaded(model, values: dict):
    """A detached instance holding `values` as its loaded state (bypassing the constructor and change events)."""
    obj = model.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    return obj


def _columns(obj, model) -> dict | None:
    if obj is None:
        return None
    return {key: getattr(obj, key) for key in _column_keys(model)}


@functools.cache
def _column_keys(model) -> tuple[str, ...]:
    # Deferred columns (a user's lock) are left out: they load when read.
    return tuple(attr.key for attr in model.__mapper__.column_attrs if not attr.deferred)


def session_cache() -> GenerationCache:
    return worker_cache("session_cache", CACHE_SIZE)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of an open, unexpired server-side session: from this worker's cache while the generation read
    (one statement) matches, else one query for the user and the session row."""
    from .services import session_key_hash

    ident, _, key = user_id.partition(":")
    try:
        pk = int(ident)
    except ValueError:
        return None
    if not key:
        return None
    digest = session_key_hash(key)
    generation = db.session.execute(GENERATION).scalar()  # before the rows: a later write always moves it on
    g.auth_generation = generation  # also what this worker's department choices are kept for (org.department_rows)
    max_age = timedelta(hours=current_app.config["SESSION_MAX_HOURS"])
    cached = session_cache().get(generation, digest)
    if cached is not None and cached.user_id == pk and utcnow() - cached.created_at <= max_age:
        user = cached.attach()
        user.session_key = key
        g.signed_in, g.session_digest = cached, digest
        return user
    row = db.session.execute(
        select(User, UserSession).join(UserSession, UserSession.user_id == User.id)
        .where(User.id == pk, UserSession.key_hash == digest)
    ).first()
    if row is None:
        return None
    user, user_session = row
    if user_session.ended_at is not None or not user.is_active_flag:
        return None
    if utcnow() - user_session.created_at > max_age:
        g.expired_session = (user, user_session)
        return None
    user.session_key = key
    g.user_session = user_session
    g.signed_in, g.session_digest = SignedIn.of(user, user_session), digest
    session_cache().put(generation, digest, g.signed_in)
    return user


def current_session_row() -> UserSession | None:
    """This request's server-side session row (read only when something writes it: a touch, a sign-out)."""
    row = g.get("user_session")
    if row is None and g.get("signed_in") is not None:
        row = g.user_session = db.session.get(UserSession, g.signed_in.session_id)
    return row


def _remember_touch(signed_in: SignedIn, when: datetime) -> None:
    """This worker's cached session carries the new last_seen_at (the touch moves no generation), so the next
    write request within TOUCH_EVERY does not write it again."""
    session_cache().replace(g.get("session_digest"), signed_in, replace(signed_in, last_seen_at=when))


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
        # Polling partials (unread counts) must not keep an idle session alive. The time is rewritten at most
        # every SEEN_EVERY seconds: an unchanged cookie is not signed and sent again on every page.
        if not request.headers.get("X-Portal-Background") and now - last >= SEEN_EVERY:
            session["seen"] = now
        signed_in = g.get("signed_in")
        if request.method in WRITE_METHODS and signed_in is not None \
                and utcnow() - signed_in.last_seen_at > TOUCH_EVERY:
            user_session = current_session_row()
            if user_session is not None:
                user_session.last_seen_at = utcnow()
                _remember_touch(signed_in, user_session.last_seen_at)
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
