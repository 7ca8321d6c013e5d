"""/healthz, and errors in Chinese inside the layout (htmx gets the message in place)."""

from __future__ import annotations

import socket

import pytest

from portal import create_app
from portal.config import TestConfig
from tests.conftest import text_of
from tests.factories import make_user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthz_ok_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}, "failed": []}


@pytest.fixture
def make_app():
    """Apps of a test's own; their connection pools are closed at the end (no stray connections)."""
    apps = []

    def factory(**settings):
        app = create_app(TestConfig, **settings)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["db.engine"].dispose()
        app.extensions["redis"].close()


def test_healthz_names_redis_when_it_is_down(database_url, tmp_path, make_app):
    app = make_app(DATABASE_URL=database_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
                   INSTANCE_PATH=str(tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["redis"]


def test_healthz_names_the_database_when_it_is_down(redis_server, tmp_path, make_app):
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path}/missing/dir/portal.db", REDIS_URL=redis_server,
                   INSTANCE_PATH=str(tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["database"]


def test_404_is_chinese_and_inside_the_layout(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "页面不存在" in html and 'class="sidebar"' in html


def test_htmx_error_is_a_partial_message(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    response = client.htmx_get("/admin/users?page=abc")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'role="alert"' in html and "应为整数" in html


@pytest.fixture
def crashing_app(database_url, redis_server, tmp_path, make_app):
    app = make_app(DATABASE_URL=database_url, REDIS_URL=redis_server, INSTANCE_PATH=str(tmp_path))
    from portal.core.permissions import public

    @app.route("/boom")
    @public
    def boom():
        raise RuntimeError("boom")

    return app


def test_unexpected_error_is_a_chinese_500_without_a_trace(crashing_app):
    response = crashing_app.test_client().get("/boom")
    assert response.status_code == 500
    assert "系统出现了意外错误" in text_of(response)
    assert "RuntimeError" not in response.get_data(as_text=True)
