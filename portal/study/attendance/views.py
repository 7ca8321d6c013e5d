"""Signing in on the phone through the session's link or QR code, and the user's own study hours."""

from __future__ import annotations

from flask import abort, request
from flask_login import current_user

from portal.core.listing import arg_int
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.service import ServiceError
from portal.core.timeutil import local_today, utcnow

from .. import SIGNIN, bp
from . import services


def _signin_page(record, status=200, error="", done=False, fresh=False):
    opens, closes = services.window(record)
    now = utcnow()
    return render("study/signin.html", status=status, record=record, opens=opens, closes=closes, error=error,
                  mine=services.own_attendance(record, current_user.staff_id), done=done, fresh=fresh,
                  is_open=opens <= now <= closes, not_yet=now < opens)


@bp.route("/signin/<token>", methods=["GET", "POST"])
@require(SIGNIN)
def sign_in(token: str):
    """The session's sign-in page: the signed-in user signs themselves in (never someone else)."""
    record = services.record_by_token(token)
    if record is None:
        abort(404)
    if request.method == "GET":
        return _signin_page(record)
    try:
        _, fresh = services.sign_in(record, current_user)
    except ServiceError as error:
        return _signin_page(record, status=error.status, error=error.message)
    return _signin_page(record, done=True, fresh=fresh)


@bp.route("/my-hours")
@require(SIGNIN)
def my_hours():
    """The user's study sessions and hours of a year."""
    year = arg_int("year", local_today().year)
    if not 2000 <= year <= 2199:
        abort(400, "年份应在 2000–2199 之间。")
    staff_id = current_user.staff_id
    rows = services.my_sessions(staff_id, year) if staff_id else []
    hours = services.study_hours(staff_id, year) if staff_id else 0
    return render("study/my_hours.html", year=year, rows=rows, hours=hours, has_staff=staff_id is not None)
