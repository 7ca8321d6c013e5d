"""Extension handles, bound to the application in create_app."""

from __future__ import annotations

from contextvars import ContextVar

from flask import Flask, current_app
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool


class AppSession(Session):
    """A session bound to the current application's engine (or the connection a test put there)."""

    def get_bind(self, mapper=None, clause=None, **kwargs):
        if self.bind is not None:
            return self.bind
        return current_app.extensions["db.bind"]


class Database:
    """A thread-scoped session, removed at the end of each app context; the engine lives on the app."""

    def __init__(self) -> None:
        # create_savepoint only matters when a test binds a connection inside its own transaction.
        self.factory = sessionmaker(class_=AppSession, expire_on_commit=False, join_transaction_mode="create_savepoint")
        self.session: scoped_session[Session] = scoped_session(self.factory)

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"], echo=app.config.get("SQLALCHEMY_ECHO", False))
        app.extensions["db.engine"] = engine
        app.extensions["db.bind"] = engine

        # Each request ends with its own session gone, also when the app context outlives it (tests, CLI).
        @app.teardown_request
        @app.teardown_appcontext
        def _remove_session(exc: BaseException | None) -> None:
            self.session.remove()

    @property
    def engine(self) -> Engine:
        return current_app.extensions["db.engine"]


# SQLite: a transaction that reads first and writes later fails (SQLITE_BUSY) when another writer
# committed in between. Requests that change data and jobs take the write lock at BEGIN instead;
# reads stay concurrent.
sqlite_begin: ContextVar[str] = ContextVar("sqlite_begin", default="BEGIN")


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"check_same_thread": False, "timeout": 15}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(sqlite_begin.get())


db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
