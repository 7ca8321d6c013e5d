"""A small client playing HIS and HR against a running portal over real HTTP (urllib only), as another
hospital system would: push departments and staff, submit and read the plan, open a signed link."""

from __future__ import annotations

import hashlib
import hmac
import http.cookiejar
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Browser:
    """A clinician's browser: its own cookies, redirects not followed (to see where a link sends it)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect)

    def get(self, path: str) -> Answer:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers), error.read())


class HisClient:
    """Calls /api/v1 with a bearer token."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: dict | None = None) -> Answer:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.base + "/api/v1" + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers), error.read())

    def push_departments(self, items: list[dict]) -> Answer:
        return self.call("POST", "/departments", {"items": items})

    def push_staff(self, items: list[dict]) -> Answer:
        return self.call("POST", "/staff", {"items": items})

    def submit_plan(self, day: str, items: list[dict], replace: bool = False) -> Answer:
        return self.call("POST", f"/plans/{day}", {"items": items, "replace": replace})

    def get_plan(self, day: str) -> Answer:
        return self.call("GET", f"/plans/{day}")


def signed_link(secret: str, client: str, staff: str, path: str, ts: int | None = None,
                nonce: str | None = None) -> str:
    """The signed link as docs/api.md describes it (computed here independently of the portal's code)."""
    params = {"client": client, "staff": staff, "path": path, "ts": str(int(time.time()) if ts is None else ts),
              "nonce": nonce or secrets.token_urlsafe(16)}
    message = "\n".join(params[k] for k in ("client", "staff", "path", "ts", "nonce"))
    params["sig"] = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return "/sso/his?" + urllib.parse.urlencode(params)
