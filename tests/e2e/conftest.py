"""Browser tests: the real app served by werkzeug on 127.0.0.1, driven by the system Chromium.

The live app has a database of its own (not the rolled-back `session` of the other tests): data
made here is committed, so every test makes accounts with unique login names.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect
from werkzeug.serving import WSGIRequestHandler, make_server

from portal.auth.models import Department
from portal.auth.principal import clear_cache
from portal.core import migrate
from portal.extensions import db
from tests import factories
from tests.backends import fresh_database
from tests.conftest import build_app
from tests.e2e.helpers import Account, submit_login, unique

DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args,
            "executable_path": os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium"),
            "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # The `page` fixture is a desktop browser; layout tests open their own contexts (see open_context).
    return {**browser_context_args, "viewport": DESKTOP, "locale": "zh-CN"}


@pytest.fixture(scope="session")
def live_app(tmp_root, redis_server):
    # The principal cache is process-wide and keyed by user id: ids of this database must not
    # meet cached entries of the other tests' database (and ours must not leak into theirs).
    clear_cache()
    with fresh_database(tmp_root, "e2e") as url:
        migrate.upgrade(url)
        app = build_app(url, redis_server, tmp_root / "e2e-instance")
        try:
            yield app
        finally:
            app.extensions["db.engine"].dispose()
            clear_cache()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def _close_when_done(app):
    """Close each response (static files too) as soon as it is sent.

    When the browser drops a connection (a navigation cancels a pending request), werkzeug's dev
    server fails while draining the socket before it closes the response, and the open static file
    surfaces later as a ResourceWarning that `filterwarnings = error` pins on an unrelated test.
    """

    def wsgi(environ, start_response):
        result = app(environ, start_response)

        def body():
            try:
                yield from result
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

        return body()

    return wsgi


@pytest.fixture(scope="session")
def live_server(live_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _close_when_done(live_app), threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server


@pytest.fixture(scope="session")
def e2e_department_id(live_app) -> int:
    with live_app.app_context():
        tree = factories.make_tree()
        db.session.commit()
        return tree.cardiology.id


@pytest.fixture(scope="session")
def make_account(live_app, e2e_department_id) -> Callable[..., Account]:
    """Create (and commit) a user with a staff record, a unique login name and the default password."""

    def make(prefix: str = "e2e", roles: tuple[str, ...] = (), must_change: bool = False,
             name: str | None = None, login: str | None = None) -> Account:
        login = login or unique(prefix)
        name = name or f"测试{login[-4:]}"
        with live_app.app_context():
            department = db.session.get(Department, e2e_department_id)
            user = factories.make_user(login, roles=list(roles), department=department, must_change=must_change,
                                       name=name)
            db.session.commit()
            return Account(id=user.id, login=login, password=factories.PASSWORD, name=user.display_name)

    return make


@pytest.fixture(scope="session")
def make_staff(live_app, e2e_department_id) -> Callable[[str], tuple[int, str]]:
    """A staff record without an account: (id, employee number)."""

    def make(name: str) -> tuple[int, str]:
        with live_app.app_context():
            department = db.session.get(Department, e2e_department_id)
            staff = factories.make_staff(name, department, employee_no=unique("E"))
            db.session.commit()
            return staff.id, staff.employee_no

    return make


@pytest.fixture(scope="session")
def sysadmin(make_account) -> Account:
    """One system administrator for the run; tests only read with it (nobody locks or changes it)."""
    return make_account("admin", roles=("sysadmin",), name=unique("管理员"))


@pytest.fixture(scope="session")
def sysadmin_state(browser, base_url, sysadmin) -> dict:
    """The sysadmin's signed-in cookies, made once through the login form; pass as storage_state."""
    context = browser.new_context(base_url=base_url, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto("/login")
        submit_login(page, sysadmin.login, sysadmin.password)
        expect(page.get_by_test_id("current-user")).to_have_text(sysadmin.name)
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def open_context(browser, base_url):
    """browser.new_context(...) with the live server as base URL; closed after the test."""
    contexts = []

    def open_(**kwargs):
        context = browser.new_context(base_url=base_url, locale="zh-CN", **kwargs)
        contexts.append(context)
        return context

    yield open_
    for context in contexts:
        context.close()
