"""Home page and /healthz."""

from __future__ import annotations

from flask import abort, current_app, jsonify, redirect, url_for
from flask_login import current_user
from sqlalchemy import text

from portal.core import panels
from portal.core.permissions import SIGNED_IN, public, require
from portal.core.redis_conn import get_redis
from portal.core.rendering import render
from portal.extensions import csrf, db

from . import bp


@bp.route("/")
@require(SIGNED_IN)
def home():
    """The signed-in user's start page (工作台): the panels their permissions allow, each loaded on its own."""
    return render("main/home.html", panels=panels.for_user(current_user))


@bp.route("/panels/<code>")
@require(SIGNED_IN)
def show_panel(code: str):
    """One home panel's content (an htmx partial); a failing panel answers with a small error box, not a 500."""
    panel = panels.REGISTRY.get(code)
    if panel is None:
        abort(404)
    if not panel.visible_to(current_user):
        abort(403)
    try:
        return render("main/_panel.html", panel=panel, content=panel.build(current_user))
    except Exception:  # one panel's fault must not break the others or the page: log it, show it in place
        db.session.rollback()
        current_app.logger.exception("home panel %s failed", code)
        return render("main/_panel_error.html", panel=panel)


@public
def bench_bare():
    """The load benchmark's yardstick: the same app and middleware, no template, no database."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}


@bp.record_once
def _bench_route(state) -> None:
    """/bench/bare exists only in an app started with PORTAL_BENCH=1."""
    if state.app.config.get("BENCH"):
        state.app.add_url_rule("/bench/bare", "main.bench_bare", bench_bare)


@bp.route("/favicon.ico")
@public
def favicon():
    """Browsers ask here for the icon without reading the page: the portal's logo."""
    return redirect(url_for("static", filename="img/logo.svg"), 301)


@bp.route("/healthz")
@public
@csrf.exempt
def healthz():
    """Database and Redis state for load balancers and monitoring; no login."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "down" here
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    failed = [k for k, v in checks.items() if v != "ok"]
    body = {"status": "ok" if healthy else "fail", "checks": checks, "failed": failed}
    return jsonify(body), 200 if healthy else 503
