"""Every error answers in Chinese inside the layout; an htmx request gets the message in place."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db, is_busy_error, is_duplicate_error, sqlite_begin

from .rendering import wants_partial

TITLES = {
    400: "请求有误",
    401: "请先登录",
    403: "没有权限",
    404: "页面不存在",
    405: "不支持该操作",
    409: "数据已被他人修改",
    413: "提交的内容过大",
    422: "提交的内容有误",
    429: "操作过于频繁",
    500: "系统内部错误",
    503: "服务暂不可用",
}

MESSAGES = {
    400: "请求的参数不正确，请检查后重试。",
    401: "登录已失效，请重新登录。",
    403: "您的账户没有执行此操作的权限。如需开通，请联系医务科或系统管理员。",
    404: "您要找的页面或记录不存在，或不在您的查看范围内。",
    405: "该地址不支持此种请求方式。",
    409: "该记录已被他人修改，请刷新页面后重试。",
    413: "上传的文件或提交的内容超过了允许的大小。",
    422: "提交的内容未通过校验，请修改后重试。",
    429: "操作过于频繁，请稍后再试。",
    500: "系统出现了意外错误，已记录。请稍后重试；如反复出现，请联系信息科。",
    503: "系统暂时无法提供服务，请稍后重试。",
}


def _is_chinese(text: str | None) -> bool:
    return bool(text) and any("\u4e00" <= ch <= "\u9fff" for ch in text)


def error_response(code: int, message: str | None = None):
    title = TITLES.get(code, "出错了")
    message = message if _is_chinese(message) else MESSAGES.get(code, "请求无法完成。")
    template = "errors/_error.html" if wants_partial() else "errors/error.html"
    response = render_template(template, code=code, title=title, message=message)
    return response, code


BUSY_MESSAGE = "系统繁忙，请稍后重试。"
RETRY_AFTER_SECONDS = 5


def busy_response():
    """Others hold the database (a lock, a serialization conflict, no free connection): try again shortly."""
    sqlite_begin.set("BEGIN")  # the page itself only reads: it must not queue for the write lock again
    body, code = error_response(503, BUSY_MESSAGE)
    return body, code, {"Retry-After": str(RETRY_AFTER_SECONDS)}


CONFLICT_MESSAGE = "刚才有人同时保存了同一条记录，您的修改没有保存。请刷新页面查看最新内容后重试。"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SQLAlchemyError)
    def _database(exc: SQLAlchemyError):
        # Whatever failed, this session's connection is not used again (see Database.discard_connection).
        db.discard_connection()
        if is_busy_error(exc):
            app.logger.warning("busy database on %s %s: %s", request.method, request.path, exc)
            return busy_response()
        if is_duplicate_error(exc):  # a race two people lost against each other, not a fault: nothing was written
            app.logger.warning("concurrent duplicate on %s %s: %s", request.method, request.path, exc.orig)
            return error_response(409, CONFLICT_MESSAGE)
        app.logger.exception("database error on %s %s", request.method, request.path)
        return error_response(InternalServerError.code)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        db.session.rollback()
        return error_response(400, "页面已过期或请求来源无法验证（CSRF 校验失败），请刷新页面后重试。")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        original = getattr(exc, "original_exception", None)  # raised outside the view: the commit in after_request
        if isinstance(original, SQLAlchemyError):
            db.discard_connection()
            if is_busy_error(original):
                return busy_response()
            if is_duplicate_error(original):
                return error_response(409, CONFLICT_MESSAGE)
        db.session.rollback()
        if exc.code is None or exc.code < 400:
            return exc
        return error_response(exc.code, exc.description)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.discard_connection()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(InternalServerError.code)
