"""What each domain adds to the benchmark's load: the pages of the mix and the API calls measured at an
offered rate.

A domain declares ``bench_load="bench.load_<domain>:load"``; the function gets one ``LoadContext`` (the app
on the benchmark database, the signed-in benchmark users and their cookies, today) and returns a ``Load``.
Weights are how often a hospital day makes each page relative to the others (the case manager's task list
is 24); an API call is measured alone, open loop, at the rate it is declared with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .openloop import Request


@dataclass(frozen=True)
class Page:
    name: str  # the label in the results table, e.g. "cm: task list"
    weight: int
    requests: list[Request]
    in_mix_only: bool = False  # a page whose request changes data (measured within the mix, not alone)
    # Puts back what the requests changed, so each run of the mix (and each benchmark) finds the same data;
    # called in an app context before each run that sends them.
    reset: Callable[[], None] | None = None


@dataclass(frozen=True)
class ApiCall:
    name: str
    requests: list[Request]  # sent in turn at the offered rate
    rate: int = 200
    warmup: list[Request] = field(default_factory=list)  # sent once first (e.g. the first submission)
    p99_target_ms: float | None = None  # a target from the issue, reported PASS/FAIL


@dataclass
class Load:
    pages: list[Page] = field(default_factory=list)
    api: list[ApiCall] = field(default_factory=list)


@dataclass
class LoadContext:
    app: Any
    sessions: dict[str, tuple[str, str, list[str]]]  # login -> (cookie, CSRF token, home panel URLs)
    today: date
    token: Callable[[str, str, list[str]], str]  # (name, login, scopes) -> a fresh token acting as that user

    def cookie(self, login: str) -> str:
        return self.sessions[login][0]

    def csrf(self, login: str) -> str:
        return self.sessions[login][1]

    def case_managers(self) -> list[str]:
        return [login for login in self.sessions if login.startswith("bcm")]


def bench_token(name: str, login: str, scopes: list[str]) -> str:
    """A new token of the benchmark's client system, acting as ``login`` with ``scopes`` (in an app context)."""
    from portal.api.clients import by_code, create_client
    from portal.api.tokens import create_token
    from portal.extensions import db

    client = by_code("BENCH") or create_client(code="BENCH", name="基准测试")
    _, secret = create_token(client=client, name=name, login_name=login, scopes=scopes)
    db.session.commit()
    return secret


def collect(ctx: LoadContext) -> Load:
    """Every installed domain's load, in installed order."""
    from portal.core import domains

    total = Load()
    for domain in domains.installed():
        if domain.bench_load:
            part = domains.resolve(domain.bench_load)(ctx)
            total.pages += part.pages
            total.api += part.api
    return total
