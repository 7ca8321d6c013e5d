"""The hospital staff portal."""

from __future__ import annotations

import time

from flask import Flask, g, request
from flask_login import current_user

from .config import ROOT, Config


def create_app(config_class: type[Config] = Config, **overrides) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(config_class.INSTANCE_PATH) if hasattr(config_class, "INSTANCE_PATH") else None,
    )
    app.config.update(config_class.load())
    app.config.update(overrides)
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_URL"].lower().startswith("https://")
    if app.config.get("DATA_KEY_GENERATED") and not app.config["DATABASE_URL"].startswith("sqlite"):
        app.logger.warning("PORTAL_DATA_KEY 未设置：正在使用本机 instance/data_key。多台主机必须设置同一个 "
                           "PORTAL_DATA_KEY，否则无法读取其他主机保存的证件号码和电话（见 docs/deploy.md）。")

    from . import extensions
    from .core import redis_conn, templating
    from .core.errors import register_error_handlers

    extensions.db.init_app(app)
    extensions.csrf.init_app(app)
    extensions.htmx.init_app(app)
    from .core.jsonbody import PortalRequest

    app.request_class = PortalRequest  # after htmx-flask's own: JSON bodies get a depth cap and Chinese errors
    extensions.login_manager.init_app(app)
    redis_conn.init_app(app)
    templating.init_app(app)
    register_error_handlers(app)

    from .core import domains

    domains.init_app(app)  # every installed domain's blueprints, nav entries, registries (portal/domains.py)

    from .auth.session import init_session_handling

    _register_request_hooks(app)
    init_session_handling(app)
    if app.config.get("PROXY_COUNT"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=app.config["PROXY_COUNT"])
    return app


# Pages load only the portal's own scripts, styles, images and fonts; no inline script, no inline style
# (templates use classes; htmx's indicator styles are in portal.css), no plugins, no framing by other sites.
# data: images: Pico's form icons are data: SVGs in its stylesheet.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
                           "form-action 'self'; frame-ancestors 'self'")

BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _hostile(ch: str) -> bool:
    return (ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f" or ch in BIDI_CONTROLS


def _register_request_hooks(app: Flask) -> None:
    from werkzeug.exceptions import BadRequest

    from .extensions import db, sqlite_begin

    @app.teardown_request
    def _reset_begin(exc):
        token = request.environ.pop("portal.begin_token", None)
        if token is not None:
            sqlite_begin.reset(token)

    @app.before_request
    def _reject_control_characters():
        # Pages take forms; a JSON body would reach WTForms as form data and dodge these checks.
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.is_json \
                and not request.path.startswith("/api/"):
            raise BadRequest("请通过页面表单提交，不接受 JSON 格式的请求。")
        # NUL and other control bytes break PostgreSQL text; bidi overrides disguise names. Refuse both.
        for values in (request.args, request.form):
            for key, value in values.items(multi=True):
                if any(_hostile(ch) for ch in key + value):
                    raise BadRequest("提交的内容包含不可见的控制字符，请删除后重试。")
        # Uploaded file names too: "报告\u202efdp.exe" would show as "报告exe.pdf" in every list.
        for key, upload in request.files.items(multi=True):
            if any(_hostile(ch) or ch in "\t\r\n" for ch in key + (upload.filename or "")):
                raise BadRequest("上传文件的文件名包含不可见的控制字符（如从右向左覆盖符），请重命名文件后重新上传。")
        g.request_started = time.perf_counter()
        # A view marked reads_first (an import's preview and commit) checks before it writes and takes
        # the write lock itself, only for the writing.
        reads_first = getattr(app.view_functions.get(request.endpoint), "reads_first", False)
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not reads_first:
            request.environ["portal.begin_token"] = sqlite_begin.set("BEGIN IMMEDIATE")

    @app.after_request
    def _finish(response):
        # One commit per request, here: services only flush. A refusal is rolled back unless the service kept it.
        kept = db.session.info.pop("keep_when_refused", False)
        if response.status_code < 400 or kept:
            db.session.commit()
        else:
            db.session.rollback()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.vary.add("HX-Request")
        # An API answer is for the token's holder only; a page for the signed-in user (the API never loads one).
        if request.path.startswith("/api/") or (request.endpoint != "static" and current_user.is_authenticated):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
