"""A fake WeCom (企业微信) server: real HTTP on 127.0.0.1, the documented request and response shapes.

Tests drive it through a small API::

    fake = FakeWeCom().start()
    fake.add_member("zhangwei")            # known to the address book (message/send)
    fake.browser_user = "zhangwei"          # who is "signed in" to the WeCom app (oauth2/authorize)
    code = fake.issue_code("zhangwei")      # or issue_code(openid="o123") for a non-member
    fake.expire_tokens(errcode=42001)       # tokens issued so far now answer 42001 (or 40014)
    fake.fail_next_send(45009, times=1)     # the next message/send answers 45009
    fake.sent, fake.delivered, fake.token_calls
    with fake.outage(): ...                 # not listening at all: connections are refused
    fake.stop()
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from contextlib import contextmanager
from urllib.parse import urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

GETTOKEN = "/cgi-bin/gettoken"
GETUSERINFO = "/cgi-bin/auth/getuserinfo"
GETUSERINFO_LEGACY = "/cgi-bin/user/getuserinfo"
SEND = "/cgi-bin/message/send"
AUTHORIZE = "/connect/oauth2/authorize"
STATE_RE = re.compile(r"[A-Za-z0-9]{0,128}")


class _QuietHandler(WSGIRequestHandler):
    """No access log: the request lines carry tokens and secrets, and would only clutter test output."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class FakeWeCom:
    """One corp with one app; every piece of state is guarded by a lock (the server is threaded)."""

    def __init__(self, corp_id: str = "wwfakecorp0001", secret: str = "fake-secret", agent_id: str = "1000002",
                 expires_in: int = 7200) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = str(agent_id)
        self.expires_in = expires_in
        # Who the OAuth page signs in; None: somebody outside the address book (answers openid).
        self.browser_user: str | None = None
        # "UserId": answer in the casing of the legacy user/getuserinfo, which some clients still get.
        self.userid_field = "userid"
        # Seconds to wait before answering any API call (to test client timeouts).
        self.delay = 0.0
        self.members: set[str] = set()
        self.sent: list[dict] = []  # every message/send body received, whatever the answer
        self.delivered: list[dict] = []  # the bodies answered with errcode 0
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.authorize_requests: list[dict] = []
        self._tokens: dict[str, int] = {}  # token -> errcode its use answers (0: valid)
        self._codes: dict[str, dict] = {}  # one-time OAuth code -> getuserinfo answer
        self._failures: dict[str, deque[int]] = defaultdict(deque)
        self._msgids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.port, "the fake WeCom server was never started"
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FakeWeCom:
        """Listen (again) on 127.0.0.1: a random port the first time, the same port after a stop()."""
        if self._server is not None:
            return self
        self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        # A short poll interval: stop() waits up to one interval for the loop to notice.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"fake-wecom-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused, as when WeCom (or the route to it) is down."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    @contextmanager
    def outage(self):
        """WeCom unreachable inside the block, back (same address) afterwards."""
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def __enter__(self) -> FakeWeCom:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- test controls ------------------------------------------------------------------------------

    def add_member(self, *userids: str) -> None:
        with self._lock:
            self.members.update(userids)

    def issue_code(self, userid: str | None = None, *, openid: str | None = None) -> str:
        """A one-time OAuth code for a member (userid) or for a non-member (openid)."""
        if userid is None and openid is None:
            openid = "o" + secrets.token_hex(12)
        code = secrets.token_hex(16)
        with self._lock:
            self._codes[code] = {"userid": userid} if userid is not None else {"openid": openid}
        return code

    def expire_tokens(self, errcode: int = 42001) -> None:
        """Every token issued so far answers errcode (42001 expired, 40014 invalid) from now on."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = errcode

    def fail_next(self, errcode: int, times: int = 1, path: str = SEND) -> None:
        """The next `times` calls to path answer errcode (after the token check, as WeCom does)."""
        with self._lock:
            self._failures[path].extend([errcode] * times)

    def fail_next_send(self, errcode: int, times: int = 1) -> None:
        self.fail_next(errcode, times, SEND)

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for _, p in self.requests if p == path)

    @property
    def token_calls(self) -> int:
        return self.count(GETTOKEN)

    @property
    def send_calls(self) -> int:
        return self.count(SEND)

    # --- the server ---------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.requests.append((request.method, request.path))
        if self.delay:
            time.sleep(self.delay)
        handler = {
            GETTOKEN: self._gettoken,
            GETUSERINFO: self._getuserinfo,
            GETUSERINFO_LEGACY: self._getuserinfo_legacy,
            SEND: self._send,
            AUTHORIZE: self._authorize,
        }.get(request.path)
        response = handler(request) if handler else Response("not found", 404)
        return response(environ, start_response)

    @staticmethod
    def _json(errcode: int = 0, errmsg: str | None = None, **fields) -> Response:
        body = {"errcode": errcode, "errmsg": errmsg or ("ok" if errcode == 0 else f"fake error {errcode}"), **fields}
        return Response(json.dumps(body, ensure_ascii=False), 200, content_type="application/json; charset=utf-8")

    def _forced(self, path: str) -> int | None:
        with self._lock:
            queue = self._failures.get(path)
            return queue.popleft() if queue else None

    def _check_token(self, request: Request) -> Response | None:
        token = request.args.get("access_token")
        if not token:
            return self._json(41001, "access_token missing")
        with self._lock:
            state = self._tokens.get(token, 40014)
        if state:
            return self._json(state, "access_token expired" if state == 42001 else "invalid access_token")
        forced = self._forced(request.path)
        return self._json(forced) if forced is not None else None

    def _gettoken(self, request: Request) -> Response:
        if request.args.get("corpid") != self.corp_id:
            return self._json(40013, "invalid corpid")
        if request.args.get("corpsecret") != self.secret:
            return self._json(40001, "invalid credential")
        forced = self._forced(GETTOKEN)
        if forced is not None:
            return self._json(forced)
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = 0
        return self._json(access_token=token, expires_in=self.expires_in)

    def _userinfo(self, request: Request) -> dict | Response:
        refused = self._check_token(request)
        if refused is not None:
            return refused
        with self._lock:
            answer = self._codes.pop(request.args.get("code", ""), None)  # a code works once
        return answer if answer is not None else self._json(40029, "invalid code")

    def _getuserinfo(self, request: Request) -> Response:
        answer = self._userinfo(request)
        if isinstance(answer, Response):
            return answer
        if "userid" in answer:
            return self._json(**{self.userid_field: answer["userid"]})
        return self._json(**answer)

    def _getuserinfo_legacy(self, request: Request) -> Response:
        answer = self._userinfo(request)
        if isinstance(answer, Response):
            return answer
        return self._json(UserId=answer["userid"]) if "userid" in answer else self._json(OpenId=answer["openid"])

    def _send(self, request: Request) -> Response:
        if request.method != "POST":
            return Response("method not allowed", 405)
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            return self._json(47001, "data format error")
        with self._lock:
            self.sent.append(body)
        refused = self._check_token(request)
        if refused is not None:
            return refused
        if str(body.get("agentid")) != self.agent_id:
            return self._json(40056, "invalid agentid")
        users = [u for u in str(body.get("touser") or "").split("|") if u]
        if not users and not body.get("toparty") and not body.get("totag"):
            return self._json(82001, "All touser & toparty & totag invalid")
        with self._lock:
            invalid = [u for u in users if u not in self.members]
        if users and len(invalid) == len(users):
            return self._json(81013, "user & party & tag all invalid", invaliduser="|".join(invalid))
        with self._lock:
            self.delivered.append(body)
            msgid = f"fake-msg-{next(self._msgids)}"
        return self._json(invaliduser="|".join(invalid), invalidparty="", invalidtag="", unlicenseduser="",
                          msgid=msgid)

    def _authorize(self, request: Request) -> Response:
        args = request.args
        with self._lock:
            self.authorize_requests.append(dict(args))
        problems = []
        if args.get("appid") != self.corp_id:
            problems.append("appid")
        if args.get("agentid") != self.agent_id:
            problems.append("agentid")
        if args.get("response_type") != "code" or args.get("scope") != "snsapi_base":
            problems.append("response_type/scope")
        if not args.get("redirect_uri", "").startswith(("http://", "https://")):
            problems.append("redirect_uri")
        if not STATE_RE.fullmatch(args.get("state", "")):
            problems.append("state")
        if problems:
            # WeCom shows an error page in the webview; it never redirects back.
            return Response(f"参数错误: {', '.join(problems)}", 400, content_type="text/plain; charset=utf-8")
        user = self.browser_user
        code = self.issue_code(user) if user else self.issue_code()
        target = args["redirect_uri"]
        query = urlencode({"code": code, "state": args.get("state", "")})
        response = Response("", 302)
        response.headers["Location"] = f"{target}{'&' if '?' in target else '?'}{query}"
        return response
