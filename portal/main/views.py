"""Home page and /healthz."""

from __future__ import annotations

from flask import jsonify, redirect, url_for
from flask_login import current_user
from sqlalchemy import text

from portal.core import domains, nav
from portal.core.permissions import SIGNED_IN, public, require
from portal.core.redis_conn import get_redis
from portal.core.rendering import render
from portal.extensions import csrf, db

from . import bp


@bp.route("/")
@require(SIGNED_IN)
def home():
    """The signed-in user's start page: their areas of work; a case manager's is the day's task list."""
    start = domains.home_endpoint(current_user)
    if start:
        return redirect(url_for(start))
    return render("main/home.html", sections=nav.for_user(current_user))


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
