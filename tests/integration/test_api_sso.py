"""Signed links from HIS (页面集成): a good link signs the clinician in and opens the page once; a bad, old,
replayed or foreign link gets a Chinese page (403), a login-log entry and never a session."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from portal.api import clients
from portal.api.sso import sign
from portal.auth.models import LoginEvent, UserSession
from portal.extensions import db
from tests.api_factories import make_client
from tests.conftest import text_of
from tests.factories import make_user


@pytest.fixture
def his(tree):
    doctor = make_user("doc_li", ["clinician"], tree.cardiology, name="李医生")
    client, secret = make_client("HIS", secret=True)
    return {"secret": secret, "staff": doctor.staff.employee_no, "client_id": client.id}


def link(secret: str, staff: str, path: str = "/account/password", *, client: str = "HIS", ts: int | None = None,
         nonce: str | None = None, **override) -> str:
    params = {"client": client, "staff": staff, "path": path, "ts": str(int(time.time()) if ts is None else ts),
              "nonce": nonce or secrets.token_urlsafe(16)}
    params["sig"] = sign(secret, params["client"], params["staff"], params["path"], params["ts"], params["nonce"])
    params.update(override)
    return "/sso/his?" + urlencode(params)


def sessions() -> int:
    return db.session.scalar(select(func.count()).select_from(UserSession))


def test_the_documented_worked_example_signature():
    from portal.config import ROOT

    expected = sign("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "HIS", "A1001",
                    "/approvals/mine", "1764547200", "n0nce-0000000001")
    assert expected in (ROOT / "docs" / "api.md").read_text()


def test_a_good_link_signs_in_and_opens_the_page_once(client, his):
    url = link(his["secret"], his["staff"], "/account/password?tab=1")
    opened = client.get(url)
    assert opened.status_code == 302 and opened.headers["Location"] == "/account/password?tab=1"
    page = client.get("/account/password")
    assert page.status_code == 200 and "李医生" in text_of(page)
    event = db.session.scalar(select(LoginEvent).where(LoginEvent.event == "sso_success"))
    assert event is not None and event.login_name == "doc_li" and "HIS" in event.detail
    # The same link again, even from another browser: refused, no session.
    other = client.application.test_client()
    count = sessions()
    replay = other.get(url)
    assert replay.status_code == 403 and "已使用过" in text_of(replay)
    assert sessions() == count
    assert other.get("/account/password").status_code == 302  # to the login page


@pytest.mark.parametrize("case", ["bad_sig", "old", "future", "unknown_client", "no_staff", "foreign_path",
                                  "protocol_relative", "backslash", "missing", "bad_nonce", "api_path"])
def test_bad_links_get_a_chinese_page_a_log_entry_and_no_session(client, his, case):
    secret, staff = his["secret"], his["staff"]
    url = {
        "bad_sig": link(secret, staff, sig="0" * 64),
        "old": link(secret, staff, ts=int(time.time()) - 61),
        "future": link(secret, staff, ts=int(time.time()) + 120),
        "unknown_client": link(secret, staff, client="NOPE"),
        "no_staff": link(secret, "Z9999"),
        "foreign_path": link(secret, staff, "https://evil.example/x"),
        "protocol_relative": link(secret, staff, "//evil.example/x"),
        "backslash": link(secret, staff, "/\\evil.example"),
        "missing": "/sso/his?client=HIS&staff=" + staff,
        "bad_nonce": link(secret, staff, nonce="short"),
        "api_path": link(secret, staff, "/api/v1/plans/2026-12-01"),
    }[case]
    count = sessions()
    response = client.get(url)
    assert response.status_code == 403 and "Location" not in response.headers
    assert "无法从 HIS 打开本平台页面" in text_of(response)
    assert sessions() == count
    assert client.get("/account/password").status_code == 302
    assert db.session.scalar(select(LoginEvent.detail).where(LoginEvent.event == "sso_failure")
                             .order_by(LoginEvent.id.desc()).limit(1))


def test_a_deactivated_client_a_rotated_secret_or_an_inactive_account_refuse(client, his, tree):
    old_secret = his["secret"]
    inactive_no = make_user("doc_off", ["clinician"], tree.cardiology, active=False).staff.employee_no
    client_row = clients.by_code("HIS")
    new_secret = clients.rotate_secret(client_row)
    db.session.commit()
    assert client.get(link(old_secret, his["staff"])).status_code == 403
    assert client.get(link(new_secret, his["staff"])).status_code == 302
    client.submit("/logout")
    assert client.get(link(new_secret, inactive_no)).status_code == 403
    client_row = clients.by_code("HIS")
    clients.update_client(client_row, code="HIS", name="HIS", contact="", notes="", is_active=False)
    db.session.commit()
    assert client.get(link(new_secret, his["staff"])).status_code == 403
