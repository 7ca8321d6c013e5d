"""What services raise when the input breaks a business rule (a Chinese message for the user), and the savepoint
that makes a refused action change nothing."""

from __future__ import annotations

from contextlib import contextmanager


class ServiceError(Exception):
    """A rule was broken; nothing has been changed. ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None, status: int = 422):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class Conflict(ServiceError):
    def __init__(self, message: str = "该记录已被他人修改，请刷新后重试。"):
        super().__init__(message, status=409)


def clean(value: str | None) -> str:
    """Form text as stored: surrounding spaces removed, a missing value as empty."""
    return (value or "").strip()



@contextmanager
def atomic():
    """A service action in a savepoint: if it raises, whatever it changed is undone and the session is clean.

    Use as ``with atomic():`` or ``@atomic()`` on a service function. The request's transaction carries on (its
    one commit stays at the request's end), so the view that called the action only renders the error. On
    failure every object of the session is expired: what the page shows next is read again as stored,
    including a row another request changed meanwhile (the reason for a conflict).
    """
    from portal.extensions import db

    savepoint = db.session.begin_nested()
    try:
        yield
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        db.session.expire_all()
        raise
    savepoint.commit()


def keep_when_refused() -> None:
    """For an action whose record must outlast its own refusal (a failed sign-in counts toward the lockout and
    stays in the login log): the request still ends with its one commit although the response is an error."""
    from portal.extensions import db

    db.session.info["keep_when_refused"] = True
