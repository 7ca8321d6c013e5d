"""A burst of parallel exports, sign-ins and writes against the served app leaves nothing behind.

The app is served by werkzeug on 127.0.0.1 with real threads and its own committed database (not
the rolled-back connection of the other tests), so every request takes a pooled connection as in
production. During the burst a request may be told to retry (503 with Retry-After); never a 500.
After it, every request succeeds and sees current data: a user deactivated after the burst is
refused on every following request, whichever pooled connection serves it.
"""

from __future__ import annotations

import http.cookiejar
import re
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from werkzeug.serving import WSGIRequestHandler, make_server

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.auth.principal import clear_cache
from portal.casemgmt.models import Patient
from portal.casemgmt.patients import services as patients
from portal.core import migrate
from portal.core.actor import Actor, acting_as
from portal.core.permissions import public
from portal.extensions import db, is_busy_error, sqlite_begin
from tests import factories
from tests.backends import fresh_database
from tests.cm_factories import resident_id
from tests.conftest import build_app

PATIENTS = 1200  # more than one batch of the export's streamed query (yield_per=1000)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One user's cookies against the served app; answers are (status, headers, text)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect)
        self.token = ""

    def request(self, path: str, data: dict | None = None, headers: dict | None = None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=60) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers, error.read()

    def get(self, path: str, **kwargs):
        return self.request(path, **kwargs)

    def post(self, path: str, data: dict, **kwargs):
        return self.request(path, {**data, "csrf_token": self.token}, **kwargs)

    def refresh_token(self, path: str = "/login") -> None:
        status, _, body = self.get(path)
        assert status == 200, status
        self.token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()

    def login(self, login: str) -> int:
        self.refresh_token()
        status, _, _ = self.post("/login", {"login_name": login, "password": factories.PASSWORD})
        if status in (302, 303):
            self.refresh_token("/account/password")  # a signed-in page carrying the form token
        return status


@pytest.fixture(scope="module")
def served(tmp_root, redis_server):
    clear_cache()
    with fresh_database(tmp_root, "lifecycle") as url:
        migrate.upgrade(url)
        app = build_app(url, redis_server, tmp_root / "lifecycle-instance")
        with app.app_context():
            tree = factories.make_tree()
            manager = factories.make_user("cm_burst", ["case_manager"], tree.cardiology)
            others = [factories.make_user(f"burst{n}", ["clinician"], tree.cardiology) for n in range(4)]
            victim = factories.make_user("burst_victim", ["clinician"], tree.cardiology)
            with acting_as(Actor(manager.id, manager.display_name)):
                for n in range(PATIENTS):
                    patients.create_patient(name=f"患者{n:04d}", id_type="resident",
                                            id_number=resident_id(n, birth=f"19{50 + n // 1000 % 40}0312"),
                                            phone=None)
                db.session.commit()
            first_patient = db.session.scalar(select(Patient.id).order_by(Patient.id).limit(1))
            ids = {"manager": manager.login_name, "others": [u.login_name for u in others],
                   "victim": victim.id, "victim_login": victim.login_name, "patient": first_patient}
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield app, f"http://127.0.0.1:{server.server_port}", ids | {"url": url}
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            app.extensions["db.engine"].dispose()
            clear_cache()


def _busy_or_ok(status, headers, body) -> bool:
    if status == 503:
        return bool(headers.get("Retry-After")) and "系统繁忙，请稍后重试" in body.decode()
    return status < 500


def test_parallel_exports_logins_and_writes_leave_every_later_request_working(served):
    app, base, ids = served
    manager = Browser(base)
    assert manager.login(ids["manager"]) in (302, 303)
    victim = Browser(base)
    assert victim.login(ids["victim_login"]) in (302, 303)
    patient = ids["patient"]

    def export():
        return manager.get("/casemgmt/patients/export")

    def login(n):
        browser = Browser(base)
        status = browser.login(ids["others"][n % len(ids["others"])])
        return status, {}, b""

    def write(n):
        return manager.post(f"/casemgmt/patients/{patient}/notes", {"body": f"交接记录 {n}", "to_user_id": ""})

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(export) for _ in range(10)]
        futures += [pool.submit(login, n) for n in range(6)]
        futures += [pool.submit(write, n) for n in range(6)]
        answers = [future.result() for future in futures]
    exports = answers[:10]
    assert all(_busy_or_ok(*answer) for answer in answers), [a[0] for a in answers]
    assert any(status == 200 for status, _, _ in exports)
    for status, _, body in exports:
        if status == 200:
            assert body[:2] == b"PK"

    # Deactivated after the burst: the old session is refused on every following request.
    token = sqlite_begin.set("BEGIN IMMEDIATE")  # a writer, as an administrator's request is
    try:
        with app.app_context():
            auth_services.set_user_active(db.session.get(User, ids["victim"]), False, acting_user_id=None)
            db.session.commit()
    finally:
        sqlite_begin.reset(token)
    for _ in range(12):
        status, headers, _ = victim.get("/casemgmt/patients")
        assert status in (302, 303) and "/login" in headers["Location"], status

    # Everything else works on every request: reads, exports, writes and sign-ins.
    for n in range(8):
        status, _, body = export()
        assert status == 200 and body[:2] == b"PK"
        status, _, _ = write(100 + n)
        assert status in (302, 303), status
        status, _, body = manager.get(f"/casemgmt/patients/{patient}")  # the note just written is there
        assert status == 200 and f"交接记录 {100 + n}" in body.decode()
        assert Browser(base).login(ids["others"][n % len(ids["others"])]) in (302, 303)
    with app.app_context():
        notes = db.session.scalar(text("SELECT count(*) FROM handover_notes WHERE body LIKE '交接记录 1__'"))
    assert notes == 8


def test_a_write_that_cannot_get_the_lock_answers_503_and_the_next_request_works(tmp_root, redis_server):
    # The embedded mode's lock (SQLite's single writer), on a SQLite database of its own in both test runs;
    # PostgreSQL's lock errors are the next test's.
    from tests.conftest import PortalClient, text_of

    url = f"sqlite:///{tmp_root / 'lifecycle-busy.db'}"
    migrate.upgrade(url)
    busy = build_app(url, redis_server, tmp_root / "lifecycle-busy", SQLITE_BUSY_TIMEOUT_MS=300)
    with busy.app_context():
        tree = factories.make_tree()
        manager = factories.make_user("cm_locked", ["case_manager"], tree.cardiology)
        with acting_as(Actor(manager.id, manager.display_name)):
            patient = patients.create_patient(name="患者锁定", id_type="resident", id_number=resident_id(1),
                                              phone=None)
        db.session.commit()
        ids = {"manager": manager.login_name, "patient": patient.id, "url": url}
        clear_cache()
    busy.test_client_class = PortalClient
    client = busy.test_client()
    client.login(ids["manager"])
    holder = sqlite3.connect(ids["url"][len("sqlite:///"):], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock (a long import, a backup)
    try:
        page = client.submit(f"/casemgmt/patients/{ids['patient']}/notes", {"body": "锁住时写入", "to_user_id": ""})
        assert page.status_code == 503 and page.headers["Retry-After"]
        assert "系统繁忙，请稍后重试" in text_of(page) and "<nav" in page.get_data(as_text=True)
        partial = client.submit(f"/casemgmt/patients/{ids['patient']}/notes", {"body": "锁住时写入", "to_user_id": ""},
                                htmx=True)
        assert partial.status_code == 503 and partial.headers["Retry-After"]
        assert 'role="alert"' in partial.get_data(as_text=True) and "<html" not in partial.get_data(as_text=True)
        exported = client.get("/casemgmt/patients/export")  # the export's audit record cannot be written: no file
        assert exported.status_code == 503 and "系统繁忙" in text_of(exported)
        assert client.get(f"/casemgmt/patients/{ids['patient']}").status_code == 200  # reads go on
    finally:
        holder.rollback()
        holder.close()
    for _ in range(6):  # every pooled connection is usable again
        assert client.submit(f"/casemgmt/patients/{ids['patient']}/notes",
                             {"body": "解锁后写入", "to_user_id": ""}).status_code in (302, 303)
        assert client.get("/casemgmt/patients/export").status_code == 200
    assert "锁住时写入" not in client.get(f"/casemgmt/patients/{ids['patient']}").get_data(as_text=True)
    busy.extensions["db.engine"].dispose()


def _real_lock_error(engine):
    """The error this back end raises to a statement that cannot get a lock another connection holds."""
    token = sqlite_begin.set("BEGIN IMMEDIATE")  # SQLite: both transactions want the write lock
    try:
        with engine.connect() as holder, engine.connect() as waiter:
            if engine.dialect.name == "sqlite":
                waiter.exec_driver_sql("PRAGMA busy_timeout=100")
                waiter.commit()
                holder.exec_driver_sql("SELECT 1")
                statement = "SELECT 1"
            else:
                holder.exec_driver_sql("LOCK TABLE departments IN ACCESS EXCLUSIVE MODE")
                waiter.exec_driver_sql("SET lock_timeout = '100ms'")
                statement = "SELECT count(*) FROM departments"
            try:
                waiter.exec_driver_sql(statement)
            except DBAPIError as error:
                return error
            finally:
                holder.rollback()
    finally:
        sqlite_begin.reset(token)
    raise AssertionError("the statement did not wait for the lock")


def test_a_lock_error_of_either_back_end_is_a_503_page_and_the_next_request_works(served, tmp_root, redis_server):
    _, _, ids = served
    from tests.conftest import PortalClient, text_of

    app = build_app(ids["url"], redis_server, tmp_root / "lifecycle-lock")
    error = _real_lock_error(app.extensions["db.engine"])
    assert is_busy_error(error)
    calls = []

    @app.route("/test-lock")
    @public
    def locked():
        calls.append(1)
        if len(calls) <= 2:
            db.session.execute(select(User.id).limit(1))  # the request holds a connection when it fails
            raise error
        return "ok"

    app.test_client_class = PortalClient
    client = app.test_client()
    page = client.get("/test-lock")
    assert page.status_code == 503 and page.headers["Retry-After"] and "系统繁忙，请稍后重试" in text_of(page)
    partial = client.htmx_get("/test-lock")
    assert partial.status_code == 503 and partial.headers["Retry-After"]
    assert 'role="alert"' in partial.get_data(as_text=True) and "<html" not in partial.get_data(as_text=True)
    again = client.get("/test-lock")
    assert again.status_code == 200 and again.get_data(as_text=True) == "ok"
    assert client.get("/login").status_code == 200
    app.extensions["db.engine"].dispose()


def test_two_people_saving_the_same_record_at_once_get_a_409_not_a_500(served, tmp_root, redis_server):
    # The loser of a race on a unique key (two tablets adding the same item, two clerks creating the same
    # plan) gets a Chinese "saved by someone else" answer; nothing of theirs is written; the next request works.
    _, _, ids = served
    from portal.auth.models import Department
    from tests.conftest import PortalClient, text_of

    app = build_app(ids["url"], redis_server, tmp_root / "lifecycle-duplicate")
    with app.app_context():
        taken = db.session.scalar(select(Department.code).limit(1))

    @app.route("/test-duplicate", methods=["POST"])
    @public
    def duplicate():
        db.session.add(Department(code="RACE-NOTE", name="不应保存", kind="department"))
        db.session.add(Department(code=taken, name="同时保存的科室", kind="department"))
        db.session.flush()  # the unique key refuses the second row, as a concurrent insert would be refused
        return "saved"

    app.test_client_class = PortalClient
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    page = client.post("/test-duplicate")
    assert page.status_code == 409 and "同时保存了同一条记录" in text_of(page)
    with app.app_context():
        assert db.session.scalar(select(Department.id).where(Department.code == "RACE-NOTE")) is None
    assert client.get("/login").status_code == 200
    app.extensions["db.engine"].dispose()
