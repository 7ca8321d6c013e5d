"""RQ job functions: thin, each opens an app context and calls a service."""

from __future__ import annotations

from contextlib import contextmanager

from portal.core.actor import SYSTEM, acting_as

_app = None


def get_app():
    """One application per worker process, created on first use."""
    global _app
    if _app is None:
        from portal import create_app

        _app = create_app()
    return _app


def use_app(app) -> None:
    """Let tests run jobs against their own application (same database and Redis)."""
    global _app
    _app = app


@contextmanager
def job_context():
    """An app context, acting as the system, committing at the end or rolling back on error."""
    from portal.extensions import db, sqlite_begin

    app = get_app()
    token = sqlite_begin.set("BEGIN IMMEDIATE")
    with app.app_context(), acting_as(SYSTEM):
        try:
            yield app
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        finally:
            sqlite_begin.reset(token)
