"""Sign-in, lockout, forced password change, idle timeout and the login log."""

from __future__ import annotations

import time

from sqlalchemy import select

from portal.auth.models import LoginEvent, LoginThrottle, User
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import PASSWORD, make_user


def events(login: str) -> list[str]:
    return list(db.session.scalars(select(LoginEvent.event).where(LoginEvent.login_name == login)
                                   .order_by(LoginEvent.id)))


def test_login_success_records_event_with_ip_and_agent(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    response = client.submit("/login", {"login_name": "doc", "password": PASSWORD},
                             headers={"User-Agent": "Ward-Tablet/1.0"})
    assert response.status_code == 302
    event = db.session.scalars(select(LoginEvent).where(LoginEvent.login_name == "doc")).one()
    assert (event.event, event.ip, event.user_agent) == ("success", "127.0.0.1", "Ward-Tablet/1.0")
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_in_chinese_and_counted(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    response = client.submit("/login", {"login_name": "doc", "password": "Wrong#pass1"})
    assert response.status_code == 422
    assert "登录名或密码错误" in text_of(response)
    assert db.session.scalar(select(LoginThrottle.failures).where(LoginThrottle.login_name == "doc",
                                                                  LoginThrottle.ip == "127.0.0.1")) == 1
    assert events("doc") == ["failure"]


def test_unknown_login_name_gives_the_same_message(client, session):
    response = client.submit("/login", {"login_name": "nobody", "password": "Whatever#1"})
    assert response.status_code == 422
    assert "登录名或密码错误" in text_of(response)


def test_five_failures_lock_the_account_even_for_the_right_password(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    for _ in range(5):
        client.submit("/login", {"login_name": "doc", "password": "Wrong#pass1"})
    response = client.submit("/login", {"login_name": "doc", "password": PASSWORD})
    assert response.status_code == 422
    assert "密码错误次数过多" in text_of(response)
    assert events("doc") == ["failure"] * 4 + ["locked", "refused_locked"]
    assert client.get("/").status_code == 302  # still not signed in


def test_lock_expires_after_the_configured_minutes(client, tree, app):
    make_user("doc", ["clinician"], tree.cardiology)
    for _ in range(5):
        client.submit("/login", {"login_name": "doc", "password": "Wrong#pass1"})
    throttle = db.session.scalar(select(LoginThrottle).where(LoginThrottle.login_name == "doc"))
    from datetime import timedelta

    throttle.locked_until -= timedelta(minutes=app.config["LOGIN_LOCK_MINUTES"])
    db.session.commit()
    assert client.submit("/login", {"login_name": "doc", "password": PASSWORD}).status_code == 302


def test_admin_unlocks_a_locked_account(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    user = make_user("doc", ["clinician"], tree.cardiology)
    other = type(client)(client.application, client.response_wrapper, use_cookies=True)
    for _ in range(5):
        other.submit("/login", {"login_name": "doc", "password": "Wrong#pass1"})
    client.login("root")
    assert client.submit(f"/admin/users/{user.id}/unlock").status_code == 303
    assert other.submit("/login", {"login_name": "doc", "password": PASSWORD}).status_code == 302


def test_inactive_account_cannot_sign_in(client, tree):
    make_user("gone", ["clinician"], tree.cardiology, active=False)
    response = client.submit("/login", {"login_name": "gone", "password": PASSWORD})
    assert response.status_code == 422
    assert "已停用" in text_of(response)


def test_forced_change_at_first_login_blocks_every_page_until_done(client, tree):
    make_user("newbie", ["clinician"], tree.cardiology, must_change=True)
    response = client.submit("/login", {"login_name": "newbie", "password": PASSWORD})
    assert response.headers["Location"] == "/account/password"
    assert client.get("/").headers["Location"] == "/account/password"
    assert client.htmx_get("/").headers["HX-Redirect"] == "/account/password"
    page = client.get("/account/password")
    assert "至少三类" in text_of(page)  # the policy is stated on the page
    done = client.submit("/account/password", {"current_password": PASSWORD, "new_password": "Better#Pass9",
                                               "confirm_password": "Better#Pass9"})
    assert done.status_code == 303
    assert client.get("/").status_code == 200
    assert db.session.scalar(select(User.must_change_password).where(User.login_name == "newbie")) is False


def test_password_policy_is_enforced_on_change(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    cases = {
        "Sh#1a": "至少需要 8 位",
        "alllowercase1": "至少三类",
        "Xdoc#doc2026": "不能包含登录名",
        PASSWORD: "最近 5 次",
    }
    for new, message in cases.items():
        response = client.submit("/account/password", {"current_password": PASSWORD, "new_password": new,
                                                       "confirm_password": new})
        assert response.status_code == 422, new
        assert message in text_of(response), new


def test_last_five_passwords_cannot_be_reused(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    current = PASSWORD
    for n in range(1, 6):
        new = f"Rotate#{n}pass"
        response = client.submit("/account/password", {"current_password": current, "new_password": new,
                                                       "confirm_password": new})
        assert response.status_code == 303
        current = new
    # PASSWORD is now the sixth most recent: allowed again; Rotate#2pass is within the last five.
    refused = client.submit("/account/password", {"current_password": current, "new_password": "Rotate#2pass",
                                                  "confirm_password": "Rotate#2pass"})
    assert refused.status_code == 422
    allowed = client.submit("/account/password", {"current_password": current, "new_password": PASSWORD,
                                                  "confirm_password": PASSWORD})
    assert allowed.status_code == 303


def test_wrong_current_password_is_refused(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    response = client.submit("/account/password", {"current_password": "Nope#12345", "new_password": "Better#Pass9",
                                                   "confirm_password": "Better#Pass9"})
    assert response.status_code == 422
    assert "当前密码不正确" in text_of(response)


def test_idle_session_expires(client, tree, app):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    assert client.get("/").status_code == 200
    with client.session_transaction() as sess:
        sess["seen"] = int(time.time()) - app.config["SESSION_IDLE_MINUTES"] * 60 - 5
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "timeout" in events("doc")
    assert client.get("/").status_code == 302


def test_logout_ends_the_session_and_is_logged(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    assert client.submit("/logout").status_code == 303
    assert client.get("/").status_code == 302
    assert events("doc")[-1] == "logout"


def test_deactivated_user_loses_access_at_next_request(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    victim = make_user("doc", ["clinician"], tree.cardiology)
    other = type(client)(client.application, client.response_wrapper, use_cookies=True)
    other.login("doc")
    assert other.get("/").status_code == 200
    client.login("root")
    assert client.submit(f"/admin/users/{victim.id}/active", {"active": "0"}).status_code == 303
    assert other.get("/").status_code == 302


def test_password_reset_by_admin_signs_out_other_sessions_and_forces_change(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    victim = make_user("doc", ["clinician"], tree.cardiology)
    other = type(client)(client.application, client.response_wrapper, use_cookies=True)
    other.login("doc")
    client.login("root")
    response = client.submit(f"/admin/users/{victim.id}/password", {"password": "Temp#Pass2026"})
    assert response.status_code == 303
    assert other.get("/").status_code == 302
    response = other.submit("/login", {"login_name": "doc", "password": "Temp#Pass2026"})
    assert response.headers["Location"] == "/account/password"


def test_open_redirect_after_login_is_refused(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    response = client.submit("/login?next=https://evil.example/", {"login_name": "doc", "password": PASSWORD})
    assert response.headers["Location"] == "/"
    client.submit("/logout")
    response = client.submit("/login?next=/admin/users", {"login_name": "doc", "password": PASSWORD})
    assert response.headers["Location"] == "/admin/users"
