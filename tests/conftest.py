"""Shared fixtures: one migrated database and one Redis per run; each test rolls back."""

from __future__ import annotations

import contextvars
import hashlib
import os
import re
import socket
import uuid
from contextlib import contextmanager

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from portal import create_app
from portal.auth.principal import clear_cache
from portal.auth.seed import ensure_reference_data
from portal.config import TestConfig
from portal.core import migrate
from portal.extensions import db
from tests import approval_subject, factories
from tests.backends import fresh_database, redis_url


@pytest.fixture(autouse=True)
def _no_network_beyond_loopback(monkeypatch):
    """Fail any test that tries to reach a host other than this machine."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("127."):
                raise AssertionError(f"test tried to reach {host}: only 127.0.0.1 is allowed")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _audit_anchors_per_test(request, tmp_path):
    """Each test keeps its own audit anchor file: an anchor names records that the test's rollback removes."""
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    previous = application.config.get("AUDIT_ANCHOR_PATH")
    application.config["AUDIT_ANCHOR_PATH"] = str(tmp_path / "audit_anchors.jsonl")
    yield
    application.config["AUDIT_ANCHOR_PATH"] = previous


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("portal")


@pytest.fixture(scope="session")
def redis_server(tmp_root):
    with redis_url(tmp_root) as url:
        yield url


def build_app(database_url: str, redis: str, instance, **overrides):
    settings = {"DATABASE_URL": database_url, "REDIS_URL": redis, "RQ_QUEUE": f"portal-test-{uuid.uuid4().hex[:8]}",
                "INSTANCE_PATH": str(instance)}
    settings.update(overrides)
    app = create_app(TestConfig, **settings)
    with app.app_context():
        ensure_reference_data()
        approval_subject.ensure_test_processes()
        db.session.commit()
    return app


@contextmanager
def workers(tmp, redis: str, label: str, count: int = 2):
    """`count` app objects, standing for worker processes, on one new migrated database that each commits to."""
    clear_cache()
    with fresh_database(tmp, label) as url:
        migrate.upgrade(url)
        apps = [build_app(url, redis, tmp / f"{label}-{n}") for n in range(count)]
        for application in apps:
            application.test_client_class = PortalClient
        try:
            yield apps
        finally:
            for application in apps:
                application.extensions["db.engine"].dispose()
                application.extensions["redis"].close()
            clear_cache()


def logged_in(app, login: str):
    """A test client of `app` (one worker of `workers()`) signed in as `login`."""
    client = app.test_client()
    client.login(login)
    return client


def committed(app, fn) -> None:
    """Run `fn` in an app context of `app` and commit."""
    with app.app_context():
        fn()
        db.session.commit()


@pytest.fixture(scope="session")
def database_url(tmp_root):
    with fresh_database(tmp_root, "main") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def app(database_url, redis_server, tmp_root):
    application = build_app(database_url, redis_server, tmp_root / "instance")
    application.test_client_class = PortalClient
    yield application
    application.extensions["db.engine"].dispose()


@contextmanager
def rolled_back(app):
    """An app context on one connection whose every commit (tests and requests alike) is undone at the end."""
    with app.app_context():
        engine = app.extensions["db.engine"]
        connection = engine.connect()
        outer = connection.begin()
        app.extensions["db.bind"] = connection
        db.session.remove()
        try:
            yield db.session
        finally:
            db.session.remove()
            outer.rollback()
            connection.close()
            app.extensions["db.bind"] = engine
            clear_cache()


@pytest.fixture
def session(app):
    with rolled_back(app) as db_session:
        yield db_session


@pytest.fixture
def tree(session):
    return factories.make_tree()


class PortalClient(FlaskClient):
    """A test client that can sign in and send the CSRF token like the browser does."""

    def open(self, *args, **kwargs):
        # Each request runs as in production: its own app context (fresh `g`, its own session),
        # even though the test itself holds an app context for factories and queries.
        return contextvars.Context().run(super().open, *args, **kwargs)

    def csrf_token(self) -> str:
        with self.session_transaction() as sess:
            raw = sess.setdefault("csrf_token", hashlib.sha1(os.urandom(64)).hexdigest())
        return URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)

    def submit(self, url: str, data: dict | None = None, htmx: bool = False, **kwargs):
        """POST a form with a valid CSRF token (as a field, or as the header htmx sends)."""
        data = dict(data or {})
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": self.csrf_token()})
        else:
            data.setdefault("csrf_token", self.csrf_token())
        return self.post(url, data=data, headers=headers, **kwargs)

    def login(self, login: str, password: str = factories.PASSWORD):
        response = self.submit("/login", {"login_name": login, "password": password})
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        return response

    def htmx_get(self, url: str, **kwargs):
        return self.get(url, headers={"HX-Request": "true"}, **kwargs)


@pytest.fixture
def client(app, session):
    return app.test_client()


def xlsx_bytes(rows) -> bytes:
    """A workbook with the given rows on its first sheet, as an upload would carry it."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def text_of(response) -> str:
    """The visible text of a response, tags stripped, for asserting Chinese messages."""
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
