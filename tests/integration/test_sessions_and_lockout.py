"""Server-side sessions (logout, absolute lifetime, other devices) and lockout per account and address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.auth import services
from portal.auth.models import LoginEvent, LoginThrottle, User, UserSession
from portal.core.timeutil import utcnow
from portal.extensions import db
from portal.notify.models import Notification
from tests.conftest import build_app, text_of
from tests.factories import PASSWORD, make_user

COOKIE = "portal_session"
ATTACKER = {"REMOTE_ADDR": "10.9.9.9"}
WRONG = "Wrong#pass1"


def new_client(client):
    return type(client)(client.application, client.response_wrapper, use_cookies=True)


def cookie_of(client) -> str:
    return client.get_cookie(COOKIE).value


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def events(login: str) -> list[str]:
    return list(db.session.scalars(select(LoginEvent.event).where(LoginEvent.login_name == login)
                                   .order_by(LoginEvent.id)))


# --- sessions -----------------------------------------------------------------------------------------------


def test_a_cookie_captured_before_logout_is_refused_after_it(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    captured = cookie_of(client)
    assert client.submit("/logout").status_code == 303
    thief = new_client(client)
    thief.set_cookie(COOKIE, captured)
    response = thief.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    row = db.session.scalars(select(UserSession).join(User).where(User.login_name == "doc")).one()
    assert row.ended_at is not None and row.end_reason == "logout"


def test_logout_on_one_device_leaves_the_other_signed_in(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    tablet = new_client(client)
    client.login("doc")
    tablet.login("doc")
    client.submit("/logout")
    assert not signed_in(client)
    assert signed_in(tablet)


def test_a_session_older_than_the_absolute_lifetime_is_refused_even_if_active(client, tree, app):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    assert signed_in(client)  # active: the idle timer was just reset
    row = db.session.scalars(select(UserSession).join(User).where(User.login_name == "doc")).one()
    row.created_at = utcnow() - timedelta(hours=app.config["SESSION_MAX_HOURS"], minutes=1)
    db.session.commit()
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert f"登录已超过 {app.config['SESSION_MAX_HOURS']} 小时" in text_of(client.get(response.headers["Location"]))
    assert "session_expired" in events("doc")
    assert db.session.scalar(select(UserSession.end_reason).where(UserSession.id == row.id)) == "expired"
    assert not signed_in(client)


def test_password_change_ends_the_other_devices_but_keeps_this_one(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    other = new_client(client)
    other.login("doc")
    client.login("doc")
    response = client.submit("/account/password", {"current_password": PASSWORD, "new_password": "Better#Pass9",
                                                   "confirm_password": "Better#Pass9"})
    assert response.status_code == 303
    assert signed_in(client)
    assert not signed_in(other)


def test_session_cookie_is_secure_when_the_public_url_is_https(database_url, redis_server, tmp_path):
    app = build_app(database_url, redis_server, tmp_path / "instance", PUBLIC_URL="https://portal.example.org")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    plain = build_app(database_url, redis_server, tmp_path / "instance", PUBLIC_URL="http://127.0.0.1:5000")
    assert plain.config["SESSION_COOKIE_SECURE"] is False
    forced = build_app(database_url, redis_server, tmp_path / "instance", PUBLIC_URL="http://10.0.0.5",
                       SESSION_COOKIE_SECURE=True)
    assert forced.config["SESSION_COOKIE_SECURE"] is True
    with app.test_request_context("/"):
        from flask import session

        session["x"] = 1
        response = app.response_class("")
        app.session_interface.save_session(app, session, response)
        assert "Secure" in response.headers["Set-Cookie"]
    for each in (app, plain, forced):
        each.extensions["db.engine"].dispose()


# --- enumeration and lockout --------------------------------------------------------------------------------


def test_unknown_and_existing_logins_get_the_same_answer_and_the_same_hash_work(client, tree, monkeypatch):
    make_user("doc", ["clinician"], tree.cardiology)
    checked = []
    real = services.verify_password
    monkeypatch.setattr(services, "verify_password", lambda h, p: checked.append(h.split("$")[0]) or real(h, p))
    known = client.submit("/login", {"login_name": "doc", "password": WRONG})
    unknown = client.submit("/login", {"login_name": "nobody", "password": WRONG})
    assert known.status_code == unknown.status_code == 422
    assert text_of(known) == text_of(unknown).replace("nobody", "doc")
    assert "再错" not in text_of(known)
    # One hash check each, with the same algorithm and work factor.
    assert len(checked) == 2 and checked[0] == checked[1]


def test_unknown_logins_lock_like_existing_ones(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    answers = {}
    for login in ("doc", "nobody"):
        for _ in range(6):
            response = client.submit("/login", {"login_name": login, "password": WRONG})
        answers[login] = text_of(response).replace(login, "X")
    assert answers["doc"] == answers["nobody"]
    assert "密码错误次数过多" in answers["doc"]


def test_an_attacker_at_one_address_does_not_lock_the_user_out_at_another(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    attacker = new_client(client)
    for _ in range(6):
        response = attacker.submit("/login", {"login_name": "doc", "password": WRONG}, environ_base=ATTACKER)
    assert "密码错误次数过多" in text_of(response)
    # Even the right password is refused from the attacker's address...
    assert attacker.submit("/login", {"login_name": "doc", "password": PASSWORD},
                           environ_base=ATTACKER).status_code == 422
    # ...while the real user signs in from theirs.
    assert client.submit("/login", {"login_name": "doc", "password": PASSWORD}).status_code == 302
    assert signed_in(client)
    locked = db.session.scalars(select(LoginThrottle).where(LoginThrottle.login_name == "doc")).all()
    assert [t.ip for t in locked] == ["10.9.9.9"]
    # The administrator sees the lock and can lift it.
    assert db.session.get(User, db.session.scalar(select(User.id).where(User.login_name == "doc"))).is_locked()


def test_many_failures_across_accounts_from_one_address_alert_the_sysadmins_once(client, tree, app, monkeypatch):
    root = make_user("root", ["sysadmin"], tree.hospital)
    make_user("doc", ["clinician"], tree.cardiology)
    monkeypatch.setitem(app.config, "LOGIN_ALERT_FAILURES", 6)
    for n in range(12):
        client.submit("/login", {"login_name": f"guess{n % 4}", "password": WRONG}, environ_base=ATTACKER)
    # Failures from other addresses do not add up with the attacker's.
    for _ in range(3):
        client.submit("/login", {"login_name": "doc", "password": WRONG})
    alerts = db.session.scalars(select(Notification).where(Notification.user_id == root.id)).all()
    assert len(alerts) == 1
    assert "10.9.9.9" in alerts[0].title and "4 个登录名" in alerts[0].body
    assert alerts[0].category == "warning"
    assert db.session.scalars(select(LoginEvent.ip).where(LoginEvent.event == "address_alert")).all() == ["10.9.9.9"]


def test_wrong_current_passwords_on_the_change_form_count_toward_the_lockout(client, tree, app):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit - 1):
        response = client.submit("/account/password", {"current_password": WRONG, "new_password": "Better#Pass9",
                                                       "confirm_password": "Better#Pass9"})
        assert response.status_code == 422 and "当前密码不正确" in text_of(response)
    response = client.submit("/account/password", {"current_password": WRONG, "new_password": "Better#Pass9",
                                                   "confirm_password": "Better#Pass9"})
    # The session that was guessing is ended, and this address cannot sign in with the password for a while.
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert not signed_in(client)
    refused = client.submit("/login", {"login_name": "doc", "password": PASSWORD})
    assert refused.status_code == 422 and "密码错误次数过多" in text_of(refused)
    assert events("doc")[-3:] == ["password_failure", "locked", "refused_locked"]


@pytest.mark.parametrize("password, reason", [
    ("Password1", "常见密码"),
    ("P@ssw0rd2026!", "常见密码"),
    ("Admin@123", "常见密码"),
    ("张伟Ward#2026", "不能包含姓名"),
    ("示范医院#Ok2026", "不能包含医院名称"),
])
def test_common_and_personal_passwords_are_refused_with_the_reason(client, tree, password, reason):
    make_user("doc", ["clinician"], tree.cardiology, name="张伟")
    client.application.config["HOSPITAL_NAME"], saved = "示范医院", client.application.config["HOSPITAL_NAME"]
    try:
        client.login("doc")
        response = client.submit("/account/password", {"current_password": PASSWORD, "new_password": password,
                                                       "confirm_password": password})
    finally:
        client.application.config["HOSPITAL_NAME"] = saved
    assert response.status_code == 422
    assert reason in text_of(response)
