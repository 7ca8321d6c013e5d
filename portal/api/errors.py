"""Errors under /api/: one table of error codes, and every error as
``{"error": {"code": "...", "message": "中文说明", "details": ...}}`` (details only when there are some)."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from portal.core.errors import MESSAGES, error_response
from portal.extensions import db

from . import bp

PREFIX = "/api/"

# code -> (HTTP status, what it means). docs/api.md lists the same table; a test keeps them equal
# and checks that every code here is used by the code and every code the code uses is here.
CODES: dict[str, tuple[int, str]] = {
    "AUTH_MISSING": (401, "缺少接口令牌（请求头 Authorization: Bearer <令牌>）"),
    "AUTH_INVALID": (401, "接口令牌无效、已停用，或其对接系统、所属账户已停用"),
    "SCOPE_DENIED": (403, "令牌的接口范围不包含该接口"),
    "PERMISSION_DENIED": (403, "令牌所属账户没有该接口所需的权限"),
    "NOT_FOUND": (404, "接口地址不存在"),
    "NOT_FOUND_PLAN": (404, "该日期没有服务计划"),
    "NOT_FOUND_STAFF": (404, "没有该工号的人员"),
    "NOT_FOUND_CODE": (404, "技术目录中没有该手术/操作编码（院内编码或国家临床版编码）"),
    "METHOD_NOT_ALLOWED": (405, "接口不支持该请求方法"),
    "BAD_REQUEST": (400, "请求格式不正确（如请求体不是 JSON 对象、字段类型不对、有不认识的字段）"),
    "BAD_DATE": (400, "日期格式不正确或日期不存在，应为 YYYY-MM-DD"),
    "BAD_PARAM": (400, "查询参数不正确"),
    "TOO_LARGE": (413, "请求体过大或一批的条数过多，请分批提交"),
    "VALIDATION": (422, "内容校验未通过：details 中逐项列出（index 为第几项，从 1 开始）"),
    "CONFLICT": (409, "与已有数据冲突（如计划已按其他规则处理）"),
    "BUSY": (503, "系统繁忙，请稍后重试（响应头 Retry-After）"),
    "INTERNAL": (500, "服务器内部错误（已记录，请联系信息科）"),
}


def register_code(code: str, status: int, meaning: str) -> str:
    """A domain's own error code (e.g. NOT_FOUND_STAFF, 404), declared beside its endpoints; it joins the one
    table above (and must be listed in docs/api.md: a test checks)."""
    if code in CODES and CODES[code] != (status, meaning):
        raise ValueError(f"API error code {code} declared twice, differently")
    CODES[code] = (status, meaning)
    return code


# The default code of an HTTP status raised without one (werkzeug's abort, a routing error).
DEFAULT_CODES = {400: "BAD_REQUEST", 401: "AUTH_INVALID", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "TOO_LARGE", 422: "VALIDATION",
                 500: "INTERNAL", 503: "BUSY"}


class ApiError(Exception):
    """An API refusal with its code from CODES; the view raises it, the handler answers JSON."""

    def __init__(self, code: str, message: str | None = None, details: Any = None, status: int | None = None):
        if code not in CODES:
            raise ValueError(f"unknown API error code {code}")
        super().__init__(code)
        self.code, self.details = code, details
        self.status = status or CODES[code][0]
        self.message = message or CODES[code][1] + "。"


def _chinese(text: str | None) -> bool:
    return bool(text) and any("\u4e00" <= ch <= "\u9fff" for ch in text)


def json_error(status: int, message: str | None = None, *, code: str | None = None, details: Any = None):
    """A JSON error response; `message` falls back to the portal's Chinese text for the status."""
    code = code or DEFAULT_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL")
    text = message if _chinese(message) else MESSAGES.get(status, "请求无法完成。")
    error: dict[str, Any] = {"code": code, "message": text}
    if details is not None:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="portal"'
    g.api_error_code = code
    return response


def api_error_response(error: ApiError):
    return json_error(error.status, error.message, code=error.code, details=error.details)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    db.session.rollback()
    return api_error_response(exc)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    if exc.code is None or exc.code < 400:
        return exc
    response = json_error(exc.code, exc.description)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    retry = getattr(exc, "retry_after", None) or (exc.response.headers.get("Retry-After") if exc.response else None)
    if retry:
        response.headers["Retry-After"] = str(retry)
    return response


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    from sqlalchemy.exc import SQLAlchemyError

    from portal.extensions import is_busy_error, is_duplicate_error

    if isinstance(exc, SQLAlchemyError):
        db.discard_connection()  # as the portal's own handler: this connection is not used again
    else:
        db.session.rollback()
    if is_busy_error(exc):
        response = json_error(503, "系统繁忙，请稍后重试。", code="BUSY")
        response.headers["Retry-After"] = "1"
        return response
    if is_duplicate_error(exc):  # two callers saved the same record at the same moment: nothing was written
        return json_error(409, "另一请求同时写入了相同的记录，本次没有写入任何数据，请重试。", code="CONFLICT")
    current_app.logger.exception("unhandled API error on %s %s", request.method, request.path)
    return json_error(500, code="INTERNAL")


@bp.record_once
def _register_app_errors(state) -> None:
    """Errors no blueprint handler sees (no route matched; refused before any view; a failed commit) still
    answer JSON under /api/; everywhere else the portal's own handler answers as before."""
    fallback = state.app.error_handler_spec[None][None].get(HTTPException)

    def _app_error(exc: HTTPException):
        if not request.path.startswith(PREFIX):
            return fallback(exc) if fallback else error_response(exc.code, exc.description)
        from portal.extensions import is_busy_error

        original = getattr(exc, "original_exception", None)
        db.session.rollback()
        if original is not None and is_busy_error(original):
            response = json_error(503, "系统繁忙，请稍后重试。", code="BUSY")
            response.headers["Retry-After"] = "1"
            return response
        if exc.code == 500:
            current_app.logger.error("API error outside a view on %s %s: %r", request.method, request.path, original)
        return _http_error(exc)

    for code in (400, 404, 405, 413, 500):
        state.app.register_error_handler(code, _app_error)


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response
