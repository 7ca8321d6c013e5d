"""The WeCom client against the fake server over real HTTP: token cache, errcode handling, limits."""

# The fixtures are imported, not found in a conftest: their names come back as test parameters (F811).
# ruff: noqa: F811

from __future__ import annotations

import hashlib
import logging
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from redis import Redis

from portal.wecom.client import (
    NotMember,
    RateLimited,
    WeComClient,
    WeComError,
    WeComUnavailable,
    build_description,
    client_for,
    cut_utf8,
    is_configured,
)
from tests.wecom_fixtures import fake_wecom, wecom_app  # noqa: F401

URL = "https://portal.example.cn/approvals/12"


@pytest.fixture
def redis_conn(redis_server, fake_wecom):
    conn = Redis.from_url(redis_server)
    try:
        yield conn
    finally:
        # Shared Redis: remove this test's keys only.
        for key in list(conn.scan_iter(match=f"portal:wecom:*:{fake_wecom.corp_id}:*")):
            conn.delete(key)
        conn.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def wecom(fake_wecom, redis_conn, sleeps):
    fake_wecom.add_member("zhangwei", "lina")
    return WeComClient(fake_wecom.corp_id, fake_wecom.agent_id, fake_wecom.secret, fake_wecom.url, redis_conn,
                       oauth_base=fake_wecom.url, sleep=sleeps.append)


def send(client: WeComClient, touser=("zhangwei",), title="待审批：请假申请", lines=("2026-11-23 09:30", "内容")):
    return client.send_textcard(list(touser), title, list(lines), URL)


# --- access token --------------------------------------------------------------------------------------


def test_token_is_fetched_once_and_cached_in_redis_without_the_secret(wecom, fake_wecom, redis_conn):
    first = wecom.access_token()
    assert wecom.access_token() == first
    send(wecom)
    send(wecom)
    assert fake_wecom.token_calls == 1
    assert fake_wecom.secret not in wecom.token_key
    assert hashlib.sha256(fake_wecom.secret.encode()).hexdigest() in wecom.token_key
    assert 7200 - 60 - 5 <= redis_conn.ttl(wecom.token_key) <= 7200 - 60


def test_a_new_token_is_fetched_once_per_expiry(wecom, fake_wecom, redis_conn):
    wecom.access_token()
    redis_conn.pexpire(wecom.token_key, 1)
    while redis_conn.exists(wecom.token_key):
        pass
    wecom.access_token()
    wecom.access_token()
    assert fake_wecom.token_calls == 2


def test_many_workers_at_once_fetch_one_token(wecom, fake_wecom):
    fake_wecom.delay = 0.2  # gettoken is slow: every worker misses the cache at the same time
    tokens: list[str] = []
    workers = [threading.Thread(target=lambda: tokens.append(wecom.access_token())) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert fake_wecom.token_calls == 1


@pytest.mark.parametrize("errcode", [40014, 42001])
def test_refused_token_is_replaced_and_the_call_retried_once(wecom, fake_wecom, errcode):
    send(wecom)
    fake_wecom.expire_tokens(errcode)
    result = send(wecom)
    assert result.msgid
    assert fake_wecom.token_calls == 2
    assert fake_wecom.send_calls == 3  # the first send, the refused one, the retry
    send(wecom)
    assert fake_wecom.token_calls == 2  # the new token is cached


def test_a_token_refused_again_after_the_retry_is_an_error(wecom, fake_wecom):
    wecom.access_token()
    fake_wecom.expire_tokens(42001)
    fake_wecom.fail_next_send(42001)  # the fresh token is refused too: no second retry
    with pytest.raises(WeComError) as caught:
        send(wecom)
    assert caught.value.errcode == 42001
    assert fake_wecom.send_calls == 2 and fake_wecom.token_calls == 2


def test_bad_secret_gives_a_chinese_message_and_is_not_hammered(fake_wecom, redis_conn):
    client = WeComClient(fake_wecom.corp_id, fake_wecom.agent_id, "wrong-secret", fake_wecom.url, redis_conn)
    for _ in range(3):
        with pytest.raises(WeComError) as caught:
            client.access_token()
        assert caught.value.errcode == 40001
        assert "Secret" in str(caught.value) and "信息科" in str(caught.value)
    # Repeated bad-secret calls get the server's IP banned by WeCom: one call, then a pause.
    assert fake_wecom.token_calls == 1


# --- errcodes on calls ---------------------------------------------------------------------------------


def test_rate_limit_is_raised_at_once_without_retry(wecom, fake_wecom, sleeps):
    wecom.access_token()
    fake_wecom.fail_next_send(45009, times=5)
    with pytest.raises(RateLimited) as caught:
        send(wecom)
    assert caught.value.errcode == 45009 and "频繁" in str(caught.value)
    assert len(fake_wecom.sent) == 1 and fake_wecom.delivered == []
    assert sleeps == []


def test_busy_is_retried_with_backoff_then_succeeds(wecom, fake_wecom, sleeps):
    fake_wecom.fail_next_send(-1, times=2)
    assert send(wecom).msgid
    assert fake_wecom.send_calls == 3 and len(fake_wecom.delivered) == 1
    assert sleeps == [0.2, 0.4]


def test_busy_is_retried_at_most_three_times(wecom, fake_wecom, sleeps):
    fake_wecom.fail_next_send(-1, times=10)
    with pytest.raises(WeComError) as caught:
        send(wecom)
    assert caught.value.errcode == -1 and "繁忙" in str(caught.value)
    assert fake_wecom.send_calls == 4  # the call and three retries
    assert sleeps == [0.2, 0.4, 0.8]


def test_unknown_errcode_still_gives_a_chinese_message(wecom, fake_wecom):
    fake_wecom.fail_next_send(60020)
    with pytest.raises(WeComError) as caught:
        send(wecom)
    assert caught.value.errcode == 60020 and "可信IP" in str(caught.value)
    fake_wecom.fail_next_send(99999)
    with pytest.raises(WeComError, match="错误码 99999"):
        send(wecom)


def test_wecom_down_or_slow_is_unavailable_in_chinese(wecom, fake_wecom, redis_conn):
    with fake_wecom.outage(), pytest.raises(WeComUnavailable, match="无法连接企业微信"):
        send(wecom)
    assert send(wecom).msgid  # back on the same address
    slow = WeComClient(fake_wecom.corp_id, fake_wecom.agent_id, fake_wecom.secret, fake_wecom.url, redis_conn,
                       timeout=0.2)
    fake_wecom.delay = 1.0
    with pytest.raises(WeComUnavailable):
        slow.userid_from_code("whatever")


def test_neither_token_nor_secret_is_logged(wecom, fake_wecom, caplog):
    caplog.set_level(logging.DEBUG)
    token = wecom.access_token()
    wecom.drop_token(token)
    send(wecom)
    token = wecom.access_token()
    fake_wecom.fail_next_send(45009)
    with pytest.raises(RateLimited):
        send(wecom)
    with fake_wecom.outage(), pytest.raises(WeComUnavailable):
        send(wecom)
    assert "gettoken" in caplog.text  # httpx did log the requests, redacted
    assert token not in caplog.text and fake_wecom.secret not in caplog.text


# --- sign-in ---------------------------------------------------------------------------------------------


def test_userid_from_code(wecom, fake_wecom):
    code = fake_wecom.issue_code("zhangwei")
    assert wecom.userid_from_code(code) == "zhangwei"
    with pytest.raises(WeComError) as caught:
        wecom.userid_from_code(code)  # a code works once
    assert caught.value.errcode == 40029 and "重新进入" in str(caught.value)
    fake_wecom.userid_field = "UserId"
    assert wecom.userid_from_code(fake_wecom.issue_code("lina")) == "lina"


def test_non_member_is_refused(wecom, fake_wecom):
    with pytest.raises(NotMember) as caught:
        wecom.userid_from_code(fake_wecom.issue_code(openid="oAbCdEf123"))
    assert isinstance(caught.value, WeComError)
    assert "不是本单位企业微信" in str(caught.value)


def test_authorize_url(wecom, fake_wecom):
    url = wecom.authorize_url("http://localhost/wecom/callback?x=1", "AbC123")
    assert url.startswith(f"{fake_wecom.url}/connect/oauth2/authorize?appid=")
    assert url.endswith("#wechat_redirect")
    assert "redirect_uri=http%3A%2F%2Flocalhost%2Fwecom%2Fcallback%3Fx%3D1&" in url
    query = parse_qs(urlsplit(url).query)
    assert query == {"appid": [fake_wecom.corp_id], "redirect_uri": ["http://localhost/wecom/callback?x=1"],
                     "response_type": ["code"], "scope": ["snsapi_base"], "state": ["AbC123"],
                     "agentid": [fake_wecom.agent_id]}
    for bad in ("", "has space", "a" * 129, "状态"):
        with pytest.raises(ValueError):
            wecom.authorize_url("http://localhost/wecom/callback", bad)


# --- text cards ----------------------------------------------------------------------------------------


def test_textcard_body_has_the_documented_shape(wecom, fake_wecom):
    lines = ["2026-11-23 09:30", "申请人：李娜"]
    result = wecom.send_textcard(["zhangwei", "lina", "zhangwei"], "请假申请待审批", lines, URL)
    assert result.msgid and result.invalid_users == []
    body = fake_wecom.delivered[-1]
    assert body == {
        "touser": "zhangwei|lina", "msgtype": "textcard", "agentid": 1000002,
        "textcard": {"title": "请假申请待审批",
                     "description": '<div class="gray">2026-11-23 09:30</div><div class="normal">申请人：李娜</div>',
                     "url": URL, "btntxt": "详情"},
        "enable_duplicate_check": 1, "duplicate_check_interval": 1800,
    }


def test_lengths_are_cut_on_character_boundaries(wecom, fake_wecom):
    title = "心内科关于调整夜班排班及节假日值班安排的紧急通知" * 5
    lines = ["2026-11-23 09:30", "<b>张伟</b> & 李娜：" + "请于本周五前完成病历质控整改并提交说明。" * 30]
    wecom.send_textcard(["zhangwei"], title, lines, URL, btntxt="查看详细内容")
    card = fake_wecom.delivered[-1]["textcard"]
    assert len(card["title"].encode()) <= 128 and card["title"].endswith("…")
    assert title.startswith(card["title"][:-1])
    assert len(card["description"].encode()) <= 512
    assert card["description"].startswith('<div class="gray">2026-11-23 09:30</div><div class="normal">'
                                          "&lt;b&gt;张伟&lt;/b&gt; &amp; 李娜：")
    assert card["description"].endswith("…</div>")
    assert card["btntxt"] == "查看详细"


@pytest.mark.parametrize("text", ["住院部", "a住院😀部b&<", "x" * 10])
def test_cutting_never_splits_a_character(text):
    for limit in range(len(text.encode()) + 2):
        cut = cut_utf8(text, limit)
        assert len(cut.encode()) <= limit
        assert cut == text or text.startswith(cut.removesuffix("…"))
    for limit in range(0, 80):
        html = build_description(["2026-11-23", text * 3], max_bytes=limit)
        assert len(html.encode()) <= limit
        assert html.count("<div") == html.count("</div>")


def test_bad_urls_are_refused_before_sending(wecom, fake_wecom):
    for url in ("/approvals/12", "portal.example.cn/x", "javascript:alert(1)", "https://h/" + "a" * 2048):
        with pytest.raises(ValueError):
            wecom.send_textcard(["zhangwei"], "标题", "内容", url)
    assert fake_wecom.sent == []


def test_invalid_recipients_are_reported(wecom, fake_wecom):
    result = wecom.send_textcard(["zhangwei", "ghost"], "通知", "内容", URL)
    assert result.invalid_users == ["ghost"]
    with pytest.raises(WeComError) as caught:
        wecom.send_textcard(["ghost", "nobody"], "通知", "内容", URL)
    assert caught.value.errcode == 81013 and caught.value.invalid_users == ["ghost", "nobody"]
    assert "接收人" in str(caught.value)
    with pytest.raises(WeComError) as caught:
        wecom.send_textcard([], "通知", "内容", URL)
    assert caught.value.errcode == 82001


# --- configuration -------------------------------------------------------------------------------------


def test_configured_only_with_corp_agent_and_secret(wecom_app, fake_wecom):
    assert is_configured(wecom_app)
    client = client_for(wecom_app)
    assert (client.corp_id, client.agent_id, client.api_base) == (fake_wecom.corp_id, "1000002", fake_wecom.url)
    assert client.userid_from_code(fake_wecom.issue_code("zhangwei")) == "zhangwei"
    for key in ("WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET"):
        saved = wecom_app.config[key]
        wecom_app.config[key] = ""
        try:
            assert not is_configured(wecom_app)
            with pytest.raises(WeComError, match="尚未配置"):
                client_for(wecom_app)
        finally:
            wecom_app.config[key] = saved
