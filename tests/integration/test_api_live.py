"""HIS and HR against a running portal over real HTTP: push departments and staff, submit and read the
plan, open a signed link and use the session; two concurrent replays of one link give exactly one session."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

from portal.api import calls
from portal.api.models import ApiCall
from portal.auth import services as auth_services
from portal.auth.models import Staff, User, UserSession
from portal.auth.principal import clear_cache
from portal.core import migrate
from portal.core.actor import Actor, acting_as
from portal.core.timeutil import local_today
from portal.extensions import db
from tests import factories
from tests.api_factories import make_client, make_token
from tests.backends import fresh_database
from tests.conftest import build_app
from tests.his_client import Browser, HisClient, signed_link


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture(scope="module")
def portal(tmp_root, redis_server):
    clear_cache()
    with fresh_database(tmp_root, "api_live") as url:
        migrate.upgrade(url)
        app = build_app(url, redis_server, tmp_root / "api-live-instance")
        with app.app_context():
            tree = factories.make_tree()
            factories.make_user("hr_account", ["sysadmin"], tree.hospital, name="人事系统")
            factories.make_user("his_account", ["plan_issuer"], tree.hospital, name="HIS 接口")
            _, hr_token = make_token("hr_account", scopes=["departments", "staff"], code="HR", name="人事同步")
            _, his_token = make_token("his_account", scopes=["plans"], code="HIS", name="HIS")
            _, secret = make_client("HIS", secret=True)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield {"app": app, "base": f"http://127.0.0.1:{server.server_port}", "hr": hr_token, "his": his_token,
                   "secret": secret}
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            app.extensions["db.engine"].dispose()
            clear_cache()


def _account_for(app, employee_no: str, login: str) -> None:
    """The administrator gives the pushed clinician a portal account (HR pushes people, not accounts)."""
    with app.app_context():
        staff = db.session.scalar(select(Staff).where(Staff.employee_no == employee_no))
        with acting_as(Actor(None, "测试")):
            user = auth_services.create_user(login_name=login, password=factories.PASSWORD, staff_id=staff.id,
                                             wecom_userid=None, role_ids=[factories.role("clinician").id])
            user.must_change_password = False
        db.session.commit()


def _sessions(app, login: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UserSession).join(User)
                                 .where(User.login_name == login))


def test_hr_and_his_play_their_part_over_http(portal):
    app, base = portal["app"], portal["base"]
    hr, his = HisClient(base, portal["hr"]), HisClient(base, portal["his"])

    departments = [{"code": "LIVE-H", "name": "联调医院", "kind": "hospital"},
                   {"code": "LIVE-D", "name": "联调片区", "kind": "division", "parent": "LIVE-H"},
                   {"code": "LIVE-XNK", "name": "联调心内科", "kind": "department", "parent": "LIVE-D"}]
    pushed = hr.push_departments(departments)
    assert pushed.status == 200, pushed.text
    assert pushed.json()["created"] == 3 and hr.push_departments(departments).json()["unchanged"] == 3
    staff = [{"employee_no": "L1001", "name": "赵医生", "department": "LIVE-XNK", "title": "主治医师"},
             {"employee_no": "L1002", "name": "钱医生", "department": "LIVE-XNK"}]
    assert hr.push_staff(staff).json()["created"] == 2
    left = hr.push_staff([{**staff[1], "active": False}]).json()
    assert left["deactivated_keys"] == ["L1002"]
    refused = hr.push_staff([{"employee_no": "L1003", "name": "孙", "department": "NOWHERE"}])
    assert refused.status == 422 and refused.json()["error"]["details"][0]["code"] == "UNKNOWN_DEPARTMENT"
    assert his.push_staff(staff).json()["error"]["code"] == "SCOPE_DENIED"  # HIS's token has no staff scope

    day = (local_today() + timedelta(days=2)).isoformat()
    item = {"id": "LIVE-1", "patient": "ZY-LIVE-1", "name": "患者甲", "service": "phone_followup"}
    submitted = his.submit_plan(day, [item])
    assert submitted.status == 200, submitted.text
    assert submitted.json()["created"] == 1 and his.submit_plan(day, [item]).json()["unchanged"] == 1
    read = his.get_plan(day)
    assert read.status == 200 and read.json()["items"][0]["id"] == "LIVE-1"
    assert his.get_plan("2026-02-30").json()["error"]["code"] == "BAD_DATE"
    assert hr.get_plan(day).json()["error"]["code"] == "SCOPE_DENIED"
    assert HisClient(base, "pt_not-a-token").get_plan(day).status == 401

    _account_for(app, "L1001", "zhao")
    browser = Browser(base)
    opened = browser.get(signed_link(portal["secret"], "HIS", "L1001", "/account/password?from=his"))
    assert opened.status == 302 and opened.headers["Location"] == "/account/password?from=his"
    page = browser.get("/account/password")
    assert page.status == 200 and "赵医生" in page.text
    outsider = Browser(base)
    forged = outsider.get(signed_link("0" * 64, "HIS", "L1001", "/account/password"))
    assert forged.status == 403 and "签名校验失败" in forged.text
    assert outsider.get("/account/password").status == 302

    with app.app_context():
        calls.flush()
        logged = db.session.execute(select(ApiCall.endpoint, ApiCall.status)).all()
    assert ("api.push_departments", 200) in logged and ("api.push_staff", 422) in logged
    assert ("api.get_plan", 200) in logged and ("api.get_plan", 401) in logged


def test_two_concurrent_replays_of_one_link_give_exactly_one_session(portal):
    app, base = portal["app"], portal["base"]
    with app.app_context():
        known = db.session.scalar(select(User.id).where(User.login_name == "zhao"))
    if known is None:  # this test alone
        HisClient(base, portal["hr"]).push_departments([
            {"code": "LIVE-H", "name": "联调医院", "kind": "hospital"},
            {"code": "LIVE-D", "name": "联调片区", "kind": "division", "parent": "LIVE-H"},
            {"code": "LIVE-XNK", "name": "联调心内科", "kind": "department", "parent": "LIVE-D"}])
        HisClient(base, portal["hr"]).push_staff([{"employee_no": "L1001", "name": "赵医生", "department": "LIVE-XNK"}])
        _account_for(app, "L1001", "zhao")
    for attempt in range(5):
        url = signed_link(portal["secret"], "HIS", "L1001", "/account/password")
        before = _sessions(app, "zhao")
        barrier = threading.Barrier(2)
        answers, browsers = [], [Browser(base), Browser(base)]

        def open_link(browser, barrier=barrier, answers=answers, url=url):
            barrier.wait()
            answers.append(browser.get(url))

        threads = [threading.Thread(target=open_link, args=(b,)) for b in browsers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(a.status for a in answers) == [302, 403], (attempt, [a.status for a in answers])
        assert _sessions(app, "zhao") == before + 1
        signed_in = [b for b in browsers if b.get("/account/password").status == 200]
        assert len(signed_in) == 1
