"""Who is acting: set per request (the signed-in user) or by a job / the CLI (the system).

Services read it for the audit record and created_by, so they take plain arguments and
never look at the request themselves.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    ip: str = ""
    user_agent: str = ""


SYSTEM = Actor(user_id=None, name="系统")
_current: ContextVar[Actor] = ContextVar("portal_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _current.get()


def set_actor(actor: Actor):
    return _current.set(actor)


def reset_actor(token) -> None:
    _current.reset(token)


@contextmanager
def acting_as(actor: Actor):
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
