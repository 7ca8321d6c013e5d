"""A thin WeCom (企业微信) server API client on httpx: token cache, errcode handling, sign-in and text cards."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import logging
import re
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

import httpx
from flask import Flask
from redis import Redis, RedisError

from . import errors
from .errors import message_for

log = logging.getLogger(__name__)

TITLE_MAX_BYTES = 128
DESCRIPTION_MAX_BYTES = 512
URL_MAX_BYTES = 2048
BTNTXT_MAX_CHARS = 4
MAX_BUSY_RETRIES = 3
TOKEN_MARGIN = 60  # seconds: refresh a minute before WeCom expires the token
LOCK_SECONDS = 10  # longer than one gettoken call with its retries, short enough to recover from a dead worker
LOCK_WAIT = 6.0
# WeCom bans the server's IP for an hour after repeated bad-secret calls: stop asking for a while.
BAD_SECRET_PAUSE = 60
STATE_RE = re.compile(r"[A-Za-z0-9]{1,128}")
_SECRET_IN_TEXT = re.compile(r"(access_token|corpsecret)=[^&\s\"']+")
# Deletes a key only while it still holds our value: never drop a token (or lock) another worker just set.
_DELETE_IF_EQUAL = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def _redact(text: str) -> str:
    return _SECRET_IN_TEXT.sub(r"\1=***", text)


class _RedactSecrets(logging.Filter):
    """httpx logs every request URL at INFO; WeCom puts the token and the secret in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token=" in message or "corpsecret=" in message:
            record.msg, record.args = _redact(message), ()
        return True


if not any(isinstance(f, _RedactSecrets) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactSecrets())


class WeComError(Exception):
    """WeCom refused a call; `errcode` is WeCom's code (None when there is none), str() the Chinese message."""

    def __init__(self, errcode: int | None, message: str, invalid_users: list[str] | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode
        self.message = message
        self.invalid_users = invalid_users or []


class RateLimited(WeComError):
    """WeCom said slow down (45009): do not retry now."""


class WeComUnavailable(WeComError):
    """WeCom could not be reached, or answered something that is not the API."""

    def __init__(self, message: str = errors.UNAVAILABLE) -> None:
        super().__init__(None, message)


class NotMember(WeComError):
    """The person signing in is not a member of the corp's address book (openid / external_userid)."""

    def __init__(self) -> None:
        super().__init__(None, errors.NOT_MEMBER)


@dataclass
class SendResult:
    msgid: str
    invalid_users: list[str] = field(default_factory=list)


def cut_utf8(text: str, max_bytes: int, ellipsis: str = "…") -> str:
    """`text` cut to at most max_bytes of UTF-8 on a character boundary, ending in `ellipsis` when cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    room = max_bytes - len(ellipsis.encode("utf-8"))
    if room < 0:
        ellipsis, room = "", max_bytes
    # "ignore" only drops the trailing partial character: the input came from a valid str.
    return encoded[:room].decode("utf-8", "ignore") + ellipsis


def _escaped_within(text: str, max_bytes: int) -> tuple[str, bool]:
    """HTML-escaped text (newlines as <br>) of at most max_bytes; True when something was left out."""
    pieces: list[str] = []
    used = 0
    for ch in text:
        piece = "<br>" if ch == "\n" else html.escape(ch, quote=False)
        size = len(piece.encode("utf-8"))
        if used + size > max_bytes:
            return "".join(pieces), True
        pieces.append(piece)
        used += size
    return "".join(pieces), False


def build_description(lines: list[str] | str, max_bytes: int = DESCRIPTION_MAX_BYTES) -> str:
    """Text card HTML: the first of several lines in grey (the date), the others normal; cut to max_bytes."""
    if isinstance(lines, str):
        styled = [("normal", lines)]
    else:
        items = [line for line in (str(x).replace("\r\n", "\n").strip() for x in lines) if line]
        styled = [("gray" if i == 0 and len(items) > 1 else "normal", line) for i, line in enumerate(items)]
    out: list[str] = []
    used = 0
    ellipsis = "…"
    for css, text in styled:
        opening, closing = f'<div class="{css}">', "</div>"
        room = max_bytes - used - len(opening) - len(closing)
        if room <= len(ellipsis.encode("utf-8")):
            break
        body, was_cut = _escaped_within(text, room)
        if was_cut:
            body, _ = _escaped_within(text, room - len(ellipsis.encode("utf-8")))
            out.append(f"{opening}{body}{ellipsis}{closing}")
            break
        out.append(f"{opening}{body}{closing}")
        used += len(opening) + len(body.encode("utf-8")) + len(closing)
    return "".join(out)


def check_url(url: str) -> str:
    """A text card link must be absolute (http/https) and at most 2048 bytes; cutting would break it."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("企业微信消息链接必须是以 http:// 或 https:// 开头的完整地址")
    if len(url.encode("utf-8")) > URL_MAX_BYTES:
        raise ValueError(f"企业微信消息链接超过 {URL_MAX_BYTES} 字节")
    return url


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~35 ms; do it once, not for every short-lived httpx.Client.
    return httpx.create_ssl_context()


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


class WeComClient:
    """One WeCom app (corp id + agent id + secret); the access token is shared by all workers through Redis."""

    def __init__(self, corp_id: str, agent_id: str | int, secret: str, api_base: str, redis: Redis,
                 timeout: float = 5.0, *, oauth_base: str = "https://open.weixin.qq.com", backoff: float = 0.2,
                 sleep: Callable[[float], None] = _default_sleep) -> None:
        self.corp_id = corp_id
        self.agent_id = str(agent_id)
        self._secret = secret
        self.api_base = api_base.rstrip("/")
        self.oauth_base = oauth_base.rstrip("/")
        self.redis = redis
        self.timeout = timeout
        # Busy (-1) retries wait backoff, 2×backoff, 4×backoff seconds; tests pass 0 or a recording sleep.
        self.backoff = backoff
        self._sleep = sleep
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        self.token_key = f"portal:wecom:token:{corp_id}:{digest}"
        self.lock_key = f"{self.token_key}:lock"
        self.refused_key = f"{self.token_key}:refused"

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self.corp_id!r}, agent_id={self.agent_id!r})"

    # --- access token -------------------------------------------------------------------------------

    def access_token(self) -> str:
        """The cached token, or a new one fetched by exactly one worker at a time."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            cached = self._cached_token()
            if cached:
                return cached
            self._raise_if_secret_refused()
            mine = secrets.token_hex(8)
            if self._lock(mine):
                try:
                    # Another worker may have stored a token between our read and our lock.
                    return self._cached_token() or self._fetch_token()
                finally:
                    self._unlock(mine)
            if time.monotonic() >= deadline:
                # The lock holder is stuck: fetching ourselves beats failing the request.
                return self._fetch_token()
            time.sleep(0.05)

    def drop_token(self, token: str) -> None:
        """Forget a token WeCom refused, unless another worker has already replaced it."""
        try:
            self.redis.eval(_DELETE_IF_EQUAL, 1, self.token_key, token)
        except RedisError as exc:
            log.warning("WeCom token cache unavailable: %s", type(exc).__name__)

    def _cached_token(self) -> str | None:
        try:
            value = self.redis.get(self.token_key)
        except RedisError as exc:
            # Without Redis every call fetches its own token: slower, but sign-in still works.
            log.warning("WeCom token cache unavailable: %s", type(exc).__name__)
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        return value or None

    def _lock(self, value: str) -> bool:
        try:
            return bool(self.redis.set(self.lock_key, value, nx=True, ex=LOCK_SECONDS))
        except RedisError:
            return True  # no Redis, nobody to coordinate with: go ahead

    def _raise_if_secret_refused(self) -> None:
        try:
            refused = self.redis.exists(self.refused_key)
        except RedisError:
            return
        if refused:
            raise WeComError(errors.BAD_SECRET, message_for(errors.BAD_SECRET))

    def _unlock(self, value: str) -> None:
        # If Redis is gone the lock expires by itself within LOCK_SECONDS.
        with contextlib.suppress(RedisError):
            self.redis.eval(_DELETE_IF_EQUAL, 1, self.lock_key, value)

    def _fetch_token(self) -> str:
        busy = 0
        while True:
            data = self._request("GET", "/cgi-bin/gettoken", params={"corpid": self.corp_id,
                                                                     "corpsecret": self._secret})
            errcode = _errcode(data)
            if errcode == 0:
                if not data.get("access_token"):
                    raise WeComUnavailable()
                break
            if errcode == errors.BUSY and busy < MAX_BUSY_RETRIES:
                busy += 1
                self._sleep(self.backoff * 2 ** (busy - 1))
                continue
            log.warning("WeCom gettoken refused for corp %s: errcode %s", self.corp_id, errcode)
            if errcode == errors.BAD_SECRET:
                with contextlib.suppress(RedisError):
                    self.redis.set(self.refused_key, "1", ex=BAD_SECRET_PAUSE)
            raise self._error(errcode, data)
        token = str(data["access_token"])
        ttl = int(data.get("expires_in") or 7200) - TOKEN_MARGIN
        if ttl > 0:
            try:
                self.redis.set(self.token_key, token, ex=ttl)
            except RedisError as exc:
                log.warning("WeCom token cache unavailable: %s", type(exc).__name__)
        return token

    # --- calls --------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: dict | None = None, json: dict | None = None) -> dict:
        """Call an API with the token; one retry with a new token, up to 3 on busy; raise on any other errcode."""
        token_retried = False
        busy = 0
        while True:
            token = self.access_token()
            data = self._request(method, path, params={**(params or {}), "access_token": token}, json=json)
            errcode = _errcode(data)
            if errcode == 0:
                return data
            if errcode in errors.TOKEN_ERRORS and not token_retried:
                token_retried = True
                self.drop_token(token)
                continue
            if errcode == errors.BUSY and busy < MAX_BUSY_RETRIES:
                busy += 1
                self._sleep(self.backoff * 2 ** (busy - 1))
                continue
            raise self._error(errcode, data)

    def _request(self, method: str, path: str, *, params: dict, json: dict | None = None) -> dict:
        try:
            # A client per call: nothing to close at shutdown, and a handful of calls per request at most.
            with httpx.Client(base_url=self.api_base, timeout=self.timeout, verify=_tls_context()) as http:
                response = http.request(method, path, params=params, json=json)
        except httpx.HTTPError as exc:
            log.warning("WeCom %s unreachable: %s: %s", path, type(exc).__name__, _redact(str(exc)))
            raise WeComUnavailable() from None
        if response.status_code != 200:
            log.warning("WeCom %s answered HTTP %s", path, response.status_code)
            raise WeComUnavailable()
        try:
            data = response.json()
        except ValueError:
            log.warning("WeCom %s answered something that is not JSON", path)
            raise WeComUnavailable() from None
        if not isinstance(data, dict):
            raise WeComUnavailable()
        return data

    @staticmethod
    def _error(errcode: int, data: dict) -> WeComError:
        message = message_for(errcode)
        if errcode in errors.RATE_LIMIT_ERRORS:
            return RateLimited(errcode, message)
        return WeComError(errcode, message, _split_users(data.get("invaliduser")))

    # --- sign-in ------------------------------------------------------------------------------------

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where the browser goes to sign in silently (snsapi_base) inside the WeCom webview."""
        if not STATE_RE.fullmatch(state):
            raise ValueError("state must be 1-128 characters a-zA-Z0-9")
        query = urlencode([("appid", self.corp_id), ("redirect_uri", redirect_uri), ("response_type", "code"),
                           ("scope", "snsapi_base"), ("state", state), ("agentid", self.agent_id)], quote_via=quote)
        return f"{self.oauth_base}/connect/oauth2/authorize?{query}#wechat_redirect"

    def userid_from_code(self, code: str) -> str:
        """The member's userid for an OAuth code (valid once); NotMember for people outside the address book."""
        data = self._call("GET", "/cgi-bin/auth/getuserinfo", params={"code": code})
        userid = data.get("userid") or data.get("UserId")
        if not userid:
            raise NotMember()
        return str(userid)

    # --- messages -----------------------------------------------------------------------------------

    def send_textcard(self, touser: list[str], title: str, description_lines: list[str] | str, url: str,
                      btntxt: str = "详情") -> SendResult:
        """Send a text card, cut to WeCom's limits; WeCom drops repeats of the same card within 30 minutes."""
        title = (title or "").strip()
        if not title:
            raise ValueError("企业微信消息标题不能为空")
        textcard = {
            "title": cut_utf8(title, TITLE_MAX_BYTES),
            "description": build_description(description_lines),
            "url": check_url(url),
            "btntxt": (btntxt or "详情")[:BTNTXT_MAX_CHARS],
        }
        body = {
            "touser": "|".join(u for u in dict.fromkeys(touser) if u),
            "msgtype": "textcard",
            "agentid": int(self.agent_id),
            "textcard": textcard,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": 1800,
        }
        data = self._call("POST", "/cgi-bin/message/send", json=body)
        return SendResult(msgid=str(data.get("msgid") or ""), invalid_users=_split_users(data.get("invaliduser")))


def _errcode(data: dict) -> int:
    try:
        return int(data.get("errcode", 0))
    except (TypeError, ValueError):
        return -1


def _split_users(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [u for u in str(value).split("|") if u]


def is_configured(app: Flask) -> bool:
    """WeCom is usable when the corp id, agent id and secret are all set."""
    cfg = app.config
    return all(str(cfg.get(key) or "").strip() for key in ("WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET"))


def client_for(app: Flask) -> WeComClient:
    """The client for the app's settings, its token cached in the app's Redis (call inside an app context)."""
    from portal.core.redis_conn import get_redis

    if not is_configured(app):
        raise WeComError(None, "企业微信尚未配置（缺少企业ID、应用ID或应用Secret），请联系信息科。")
    cfg = app.config
    return WeComClient(cfg["WECOM_CORP_ID"].strip(), str(cfg["WECOM_AGENT_ID"]).strip(), cfg["WECOM_SECRET"].strip(),
                       cfg.get("WECOM_API_BASE") or "https://qyapi.weixin.qq.com", get_redis(),
                       timeout=float(cfg.get("WECOM_TIMEOUT", 5.0)),
                       oauth_base=cfg.get("WECOM_OAUTH_BASE") or "https://open.weixin.qq.com",
                       backoff=float(cfg.get("WECOM_RETRY_BACKOFF", 0.2)))
