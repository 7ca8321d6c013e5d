"""Errors under /api/ answer JSON ({"error": "中文说明"}), never an HTML page."""

from __future__ import annotations

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from portal.core.errors import MESSAGES, error_response
from portal.extensions import db

from . import bp

PREFIX = "/api/"


def _chinese(text: str | None) -> bool:
    return bool(text) and any("\u4e00" <= ch <= "\u9fff" for ch in text)


def json_error(status: int, message: str | None = None, **extra):
    """A JSON error response; `message` falls back to the portal's Chinese text for the status."""
    text = message if _chinese(message) else MESSAGES.get(status, "请求无法完成。")
    response = jsonify({"error": text, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="portal"'
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    if exc.code is None or exc.code < 400:
        return exc
    response = json_error(exc.code, exc.description)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    db.session.rollback()
    current_app.logger.exception("unhandled API error on %s %s", request.method, request.path)
    return json_error(500)


def _routing_error(exc: HTTPException):
    """No route matched (404) or the method is wrong (405): JSON under /api/, the usual page elsewhere."""
    db.session.rollback()
    if request.path.startswith(PREFIX):
        return _http_error(exc)
    return error_response(exc.code, exc.description)


@bp.record_once
def _register_routing_errors(state) -> None:
    # A request that matched no route belongs to no blueprint: only the app sees its 404 / 405.
    for code in (404, 405):
        state.app.register_error_handler(code, _routing_error)


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response
