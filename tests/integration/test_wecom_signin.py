"""Sign-in from the WeCom webview, step by step through the fake WeCom's OAuth page; and every refusal."""

# The fixtures are imported, not found in a conftest: their names come back as test parameters (F811).
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from sqlalchemy import select

from portal.auth.models import LoginEvent, LoginThrottle, User
from portal.core.timeutil import utcnow
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import make_tree, make_user
from tests.wecom_fixtures import fake_wecom, wecom_app, wecom_client  # noqa: F401

WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.26 MicroMessenger/7.0.1 Language/zh ColorScheme/Light")
WECHAT_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 MicroMessenger/8.0.49(0x18003128) NetType/WIFI Language/zh_CN")
BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"
DEEP_LINK = "/?view=todo&item=42"


def location(response) -> str:
    assert response.status_code in (301, 302, 303), (response.status_code, text_of(response)[:300])
    return response.headers["Location"]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def to_authorize(client, fake, start: str = DEEP_LINK, ua: str = WECOM_UA) -> str:
    """From a protected page to the fake WeCom OAuth URL, as the webview would follow the redirects."""
    headers = {"User-Agent": ua}
    login = location(client.get(start, headers=headers))
    assert path_of(login).startswith("/login?next=")
    wecom_login = location(client.get(login, headers=headers))
    assert path_of(wecom_login).startswith("/wecom/login?next=")
    authorize = location(client.get(wecom_login, headers=headers))
    assert authorize.startswith(f"{fake.url}/connect/oauth2/authorize?") and authorize.endswith("#wechat_redirect")
    return authorize


def callback_from(authorize: str) -> str:
    """What WeCom's OAuth page redirects the webview to (fetched over real HTTP, not followed)."""
    response = httpx.get(authorize, follow_redirects=False)
    assert response.status_code == 302, response.text
    target = response.headers["location"]
    assert target.startswith("http://localhost/wecom/callback?")
    return path_of(target)


def signin(client, fake, start: str = DEEP_LINK):
    """The whole walk; returns the response to the callback."""
    return client.get(callback_from(to_authorize(client, fake, start)), headers={"User-Agent": WECOM_UA})


def signed_in_as(client) -> int | None:
    """The user id in the client's session cookie (Flask-Login keeps "<id>:<server-side session key>")."""
    with client.session_transaction() as sess:
        value = sess.get("_user_id")
    return int(value.partition(":")[0]) if value else None


def events(kind: str) -> list[LoginEvent]:
    return list(db.session.scalars(select(LoginEvent).where(LoginEvent.event == kind).order_by(LoginEvent.id)))


def assert_refused(response, status: int, words: str, detail: str, login_name: str = "(未知)", client=None):
    assert response.status_code == status, text_of(response)[:500]
    text = text_of(response)
    assert "企业微信登录失败" in text and words in text, text[:500]
    assert "使用账号密码登录" in text
    failures = events("wecom_failure")
    assert failures, "no login_events row for the refusal"
    assert detail in failures[-1].detail and failures[-1].login_name == login_name
    assert all(e.id < failures[-1].id for e in events("wecom_success"))
    if client is not None:  # still nobody signed in
        assert signed_in_as(client) is None
        assert path_of(location(client.get("/", headers={"User-Agent": BROWSER_UA}))).startswith("/login")


# --- the way in ------------------------------------------------------------------------------------------


def test_webview_deep_link_signs_in_and_returns_to_the_page(wecom_app, wecom_client, fake_wecom):
    user = make_user("zhangwei", department=make_tree().cardiology, name="张伟", wecom_userid="ZhangWei")
    fake_wecom.browser_user = "ZhangWei"
    authorize = to_authorize(wecom_client, fake_wecom)
    query = parse_qs(urlsplit(authorize).query)
    # The target rides in the callback too, so the link opened again while signed in still leads there.
    assert query["redirect_uri"] == ["http://localhost/wecom/callback?next=" + quote(DEEP_LINK, safe="/?")]
    assert query["appid"] == [fake_wecom.corp_id] and query["agentid"] == ["1000002"]
    state = query["state"][0]
    assert len(state) == 32 and state.isalnum() and state.isascii()

    response = wecom_client.get(callback_from(authorize), headers={"User-Agent": WECOM_UA})
    assert location(response) == DEEP_LINK
    assert signed_in_as(wecom_client) == user.id
    page = wecom_client.get(DEEP_LINK, headers={"User-Agent": WECOM_UA})
    assert page.status_code == 200 and "张伟" in text_of(page)
    [event] = events("wecom_success")
    assert (event.user_id, event.login_name, event.user_agent) == (user.id, "zhangwei", WECOM_UA)
    assert "ZhangWei" in event.detail
    assert db.session.get(User, user.id).last_login_at is not None
    assert fake_wecom.token_calls == 1


def test_signed_in_user_is_not_sent_to_wecom_again(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "zhangwei"
    signin(wecom_client, fake_wecom)
    assert location(wecom_client.get("/wecom/login?next=/account/password")) == "/account/password"
    assert location(wecom_client.get("/login?next=/account/password", headers={"User-Agent": WECOM_UA})) == (
        "/account/password")
    assert len(fake_wecom.authorize_requests) == 1


def test_forced_password_change_still_applies(wecom_app, wecom_client, fake_wecom):
    make_user("newdoc", wecom_userid="newdoc", must_change=True)
    fake_wecom.browser_user = "newdoc"
    assert location(signin(wecom_client, fake_wecom)) == "/account/password"
    assert location(wecom_client.get("/", headers={"User-Agent": WECOM_UA})) == "/account/password"
    assert len(events("wecom_success")) == 1


def test_next_must_be_a_same_site_path(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "zhangwei"
    authorize = location(wecom_client.get("/wecom/login?next=//evil.example.com/x", headers={"User-Agent": WECOM_UA}))
    assert location(wecom_client.get(callback_from(authorize))) == "/"


def test_plain_browser_and_personal_wechat_get_the_password_page(wecom_app, wecom_client, fake_wecom):
    for ua in (BROWSER_UA, WECHAT_UA):
        login = location(wecom_client.get(DEEP_LINK, headers={"User-Agent": ua}))
        page = wecom_client.get(login, headers={"User-Agent": ua})
        assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    assert fake_wecom.authorize_requests == [] and fake_wecom.token_calls == 0


def test_password_login_stays_reachable_inside_the_webview(wecom_app, wecom_client, fake_wecom):
    page = wecom_client.get("/login?password=1&next=/", headers={"User-Agent": WECOM_UA})
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)


# --- refusals --------------------------------------------------------------------------------------------


def test_unknown_wecom_user_is_refused(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "lisi"
    response = signin(wecom_client, fake_wecom)
    assert_refused(response, 403, "lisi）尚未绑定", "未绑定", login_name="lisi", client=wecom_client)


def test_non_member_is_refused(wecom_app, wecom_client, fake_wecom):
    fake_wecom.browser_user = None  # an external contact: WeCom answers openid, no userid
    response = signin(wecom_client, fake_wecom)
    assert_refused(response, 403, "不是本单位企业微信通讯录中的成员", "openid", client=wecom_client)


def test_inactive_users_are_refused(wecom_app, wecom_client, fake_wecom):
    gone = make_user("gone", wecom_userid="gone", active=False)
    fake_wecom.browser_user = "gone"
    assert_refused(signin(wecom_client, fake_wecom), 403, "已停用", "已停用", login_name="gone", client=wecom_client)
    assert events("wecom_failure")[-1].user_id == gone.id


def test_a_password_lockout_elsewhere_does_not_stop_wecom_sign_in(wecom_app, wecom_client, fake_wecom):
    user = make_user("locked", wecom_userid="locked")
    db.session.add(LoginThrottle(login_name="locked", ip="10.9.9.9", failures=0,
                                 locked_until=utcnow() + timedelta(minutes=10)))
    db.session.commit()
    fake_wecom.browser_user = "locked"
    assert location(signin(wecom_client, fake_wecom)) == DEEP_LINK
    assert signed_in_as(wecom_client) == user.id


def test_the_sign_in_link_opened_again_while_signed_in_goes_on_to_the_page(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "zhangwei"
    callback = callback_from(to_authorize(wecom_client, fake_wecom))
    assert location(wecom_client.get(callback, headers={"User-Agent": WECOM_UA})) == DEEP_LINK
    # The webview reopens the same callback (history, a second tap): its state is used up, the user signed in.
    again = wecom_client.get(callback, headers={"User-Agent": WECOM_UA})
    assert again.status_code == 302 and location(again) == DEEP_LINK
    assert not events("wecom_failure")


def test_reused_code_is_refused(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "zhangwei"
    callback = callback_from(to_authorize(wecom_client, fake_wecom))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert location(wecom_client.get(callback)) == DEEP_LINK  # the code is used up here
    assert location(wecom_client.submit("/logout")) == "/login"
    # A fresh state in this session, the used code: WeCom answers 40029.
    state = parse_qs(urlsplit(to_authorize(wecom_client, fake_wecom)).query)["state"][0]
    response = wecom_client.get(f"/wecom/callback?code={code}&state={state}", headers={"User-Agent": WECOM_UA})
    assert_refused(response, 400, "登录凭证无效或已被使用", "40029", client=wecom_client)


def test_replayed_callback_is_refused(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "zhangwei"
    callback = callback_from(to_authorize(wecom_client, fake_wecom))
    assert location(wecom_client.get(callback)) == DEEP_LINK
    assert signed_in_as(wecom_client) is not None
    wecom_client.submit("/logout")
    response = wecom_client.get(callback)  # the same state again: it was single use
    assert_refused(response, 400, "本次登录请求已失效", "state 缺失", client=wecom_client)


def test_wrong_or_missing_state_is_refused(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "zhangwei"
    callback = callback_from(to_authorize(wecom_client, fake_wecom))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = wecom_client.get(f"/wecom/callback?code={code}&state=Forged0123456789Forged0123456789")
    assert_refused(response, 400, "登录请求校验失败", "state 不匹配", client=wecom_client)

    to_authorize(wecom_client, fake_wecom)
    response = wecom_client.get(f"/wecom/callback?code={fake_wecom.issue_code('zhangwei')}")
    assert_refused(response, 400, "登录请求校验失败", "state 不匹配", client=wecom_client)

    # A callback in a session that never started a sign-in (someone else's link, CSRF).
    stranger = wecom_app.test_client()
    response = stranger.get(f"/wecom/callback?code={fake_wecom.issue_code('zhangwei')}&state=AbC")
    assert_refused(response, 400, "本次登录请求已失效", "state 缺失", client=stranger)
    assert len(events("wecom_failure")) == 3


def test_missing_code_is_refused(wecom_app, wecom_client, fake_wecom):
    state = parse_qs(urlsplit(to_authorize(wecom_client, fake_wecom)).query)["state"][0]
    response = wecom_client.get(f"/wecom/callback?state={state}")
    assert_refused(response, 400, "没有返回登录凭证", "code", client=wecom_client)


def test_wecom_unreachable_is_503(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "zhangwei"
    callback = callback_from(to_authorize(wecom_client, fake_wecom))
    with fake_wecom.outage():
        response = wecom_client.get(callback)
    assert_refused(response, 503, "暂时无法连接企业微信服务器", "企业微信不可用", client=wecom_client)
    assert "重新通过企业微信登录" in text_of(response)
    # WeCom is back: starting again works.
    assert location(signin(wecom_client, fake_wecom)) == DEEP_LINK


def test_bad_secret_is_503_without_details_for_the_user(wecom_app, wecom_client, fake_wecom):
    make_user("zhangwei", wecom_userid="zhangwei")
    fake_wecom.browser_user = "zhangwei"
    fake_wecom.secret = "rotated-in-the-admin-console"
    response = signin(wecom_client, fake_wecom)
    assert_refused(response, 503, "Secret", "40001", client=wecom_client)


def test_not_configured(client, session):
    """The default test app has no WeCom settings: the webview gets the password page, the WeCom URLs say why."""
    page = client.get("/login?next=/", headers={"User-Agent": WECOM_UA})
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    assert_refused(client.get("/wecom/login?next=/", headers={"User-Agent": WECOM_UA}), 503, "尚未配置企业微信登录",
                   "未配置", client=client)
    assert_refused(client.get("/wecom/callback?code=abc&state=AbC"), 503, "尚未配置企业微信登录", "未配置",
                   client=client)
    assert len(events("wecom_failure")) == 2
