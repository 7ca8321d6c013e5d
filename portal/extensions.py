"""Extension handles, bound to the application in create_app."""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, current_app, has_request_context, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool


class AppSession(Session):
    """A session bound to the current application's engine (or the connection a test put there)."""

    def get_bind(self, mapper=None, clause=None, **kwargs):
        if self.bind is not None:
            return self.bind
        extensions = current_app.extensions
        bind = extensions["db.bind"]
        # A page read (GET) on PostgreSQL runs without BEGIN/COMMIT until it writes (see lazy_begin).
        reader = extensions.get("db.reader")
        if reader is not None and bind is extensions["db.engine"] and has_request_context() \
                and request.method in READ_METHODS:
            return reader
        return bind


class Database:
    """A thread-scoped session, removed at the end of each app context; the engine lives on the app."""

    def __init__(self) -> None:
        # create_savepoint only matters when a test binds a connection inside its own transaction.
        self.factory = sessionmaker(class_=AppSession, expire_on_commit=False, join_transaction_mode="create_savepoint")
        self.session: scoped_session[Session] = scoped_session(self.factory)

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"], echo=app.config.get("SQLALCHEMY_ECHO", False),
                             lock_timeout_ms=app.config.get("SQLITE_BUSY_TIMEOUT_MS", DEFAULT_LOCK_TIMEOUT_MS))
        app.extensions["db.engine"] = engine
        app.extensions["db.bind"] = engine
        if engine.dialect.name == "postgresql":
            app.extensions["db.reader"] = lazy_begin(engine)

        # Each request ends with its own session gone, also when the app context outlives it (tests, CLI).
        @app.teardown_request
        @app.teardown_appcontext
        def _remove_session(exc: BaseException | None) -> None:
            self.remove()

    @property
    def engine(self) -> Engine:
        return current_app.extensions["db.engine"]

    def remove(self) -> None:
        """End the thread's session; a connection that cannot even roll back is thrown away, never pooled."""
        try:
            self.session.remove()
        except Exception:
            log.exception("closing the database session failed; its connection is discarded")
            try:
                self.session.invalidate()
            except Exception:
                log.exception("discarding the connection failed")
            self.session.registry.clear()

    def discard_connection(self) -> None:
        """After a failed statement: roll back and never hand this session's connection to another request.

        On SQLite a statement left unfinished (a streamed result abandoned by an exception) keeps its
        read snapshot after ROLLBACK: the next request on that pooled connection would read stale data
        and fail every write. Invalidating closes it; the pool opens a fresh one. A test's own bound
        connection (rolled back at the end of the test) is only rolled back.
        """
        session = self.session()
        transaction = session.get_transaction()
        # Only connections the session already holds (no new checkout: the pool may be what failed).
        held = getattr(transaction, "_connections", {}) if transaction is not None else {}
        if held and current_app.extensions["db.bind"] is current_app.extensions["db.engine"]:
            for connection, *_ in list(held.values()):
                try:
                    connection.invalidate()
                except Exception:
                    log.exception("invalidating the connection failed")
        try:
            session.rollback()
        except Exception:
            log.exception("rolling back failed; the session is discarded")
            self.remove()


# SQLite: a transaction that reads first and writes later fails (SQLITE_BUSY) when another writer
# committed in between. Requests that change data and jobs take the write lock at BEGIN instead;
# reads stay concurrent.
sqlite_begin: ContextVar[str] = ContextVar("sqlite_begin", default="BEGIN")

log = logging.getLogger(__name__)

# SQLite: how long a write waits for another one to finish before it fails with "database is locked",
# which a request answers with 503 "系统繁忙，请稍后重试" (core/errors.py).
DEFAULT_LOCK_TIMEOUT_MS = 10_000


def reading() -> bool:
    """True in a read-only context (a GET, the CLI): the request's transaction began with a plain BEGIN."""
    return sqlite_begin.get() != "BEGIN IMMEDIATE"


@contextmanager
def own_write_transaction() -> Iterator[Session]:
    """A short write transaction of its own, for a read request that must record something (an export's audit).

    The request's read transaction ends first. On SQLite a read transaction cannot become a write one
    once another connection has committed (SQLITE_BUSY_SNAPSHOT: "database is locked" at once, without
    waiting); this one begins with BEGIN IMMEDIATE and waits its turn instead. On PostgreSQL it keeps
    the locks it takes (the audit chain's) short. Committed at the end, rolled back on error. Inside a
    request or job that already writes, it is the caller's transaction (no extra commit).
    """
    session = db.session
    if not reading():
        yield session
        return
    session.commit()  # a read request has nothing of its own to commit: this only ends its snapshot
    token = sqlite_begin.set("BEGIN IMMEDIATE")
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        sqlite_begin.reset(token)


READ_METHODS = ("GET", "HEAD", "OPTIONS")

# A statement that must run inside a transaction: it writes, locks rows, takes a transaction-scoped
# lock or draws from a sequence. SQLAlchemy writes keywords in upper case (column names are lower case).
_WRITE_KEYWORDS = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|FOR (NO KEY )?UPDATE|FOR (KEY )?SHARE|LOCK)\b")


@functools.lru_cache(maxsize=4096)  # the same compiled strings come back request after request
def needs_transaction(statement: str) -> bool:
    """True unless the statement is a plain read (SELECT/WITH/SHOW without writes, locks or sequences)."""
    head = statement.lstrip()[:6].upper()
    if not (head.startswith("SELECT") or head.startswith("WITH") or head.startswith("SHOW")):
        return True
    lowered = statement.lower()
    if "pg_advisory" in lowered or "nextval" in lowered or "setval" in lowered or "set_config" in lowered:
        return True
    return _WRITE_KEYWORDS.search(statement) is not None


def lazy_begin(engine: Engine) -> Engine:
    """The engine a page read (GET) uses on PostgreSQL: no BEGIN/COMMIT round trips until it writes.

    Each of these requests used to pay BEGIN before its first query and COMMIT after its last, two round
    trips for nothing: under READ COMMITTED every statement takes its own snapshot, inside a transaction
    or not, so plain reads see exactly what they saw before. The connection runs in autocommit mode; the
    first statement that writes, locks (FOR UPDATE, an advisory transaction lock), draws a sequence or
    opens a server-side cursor first sends BEGIN, and from there the request is one transaction as
    before: the request's commit at the end sends COMMIT (psycopg commits whenever the server is in a
    transaction) and an error rolls everything back. A read that wrote nothing ends with no round trip.
    """
    reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    @event.listens_for(reader, "before_cursor_execute")
    def _begin_before_writing(conn, cursor, statement, parameters, context, executemany):
        dbapi_connection = conn.connection.dbapi_connection
        if dbapi_connection.info.transaction_status != 0:  # already in a transaction (or failed in one)
            return
        if getattr(cursor, "name", None) or needs_transaction(statement):  # a named cursor needs a transaction
            dbapi_connection.execute("BEGIN")

    return reader


def make_engine(url: str, echo: bool = False, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> Engine:
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"check_same_thread": False, "timeout": lock_timeout_ms / 1000}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, pool_reset_on_return="rollback", **kwargs)
        _configure_sqlite(engine, lock_timeout_ms)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    # JIT compilation: the planner turns it on for any statement estimated above jit_above_cost, which the
    # portal's report queries over five years are; compiling took ~300 ms on queries that run in ~10 ms.
    engine = create_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_reset_on_return="rollback",
                           connect_args={"options": "-c jit=off"})
    _roll_back_on_checkin(engine)
    _ping_when_idle(engine)
    return engine


# A pooled connection is checked with a round trip only when it has been idle this long: one that served a
# request a moment ago is alive, and pinging it (pool_pre_ping) added a round trip to every request.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping for connections that sat in the pool: a dead one is replaced before a request gets it."""

    @event.listens_for(engine, "checkin")
    def _mark(dbapi_connection, connection_record):
        connection_record.info["portal.checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, connection_record, connection_proxy):
        last = connection_record.info.get("portal.checked_in")
        if last is None or time.monotonic() - last < PING_AFTER_IDLE_SECONDS:
            return  # just opened, or just used
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("pooled connection failed its ping") from error
        if alive is False:
            raise exc.DisconnectionError("pooled connection failed its ping")


def _roll_back_on_checkin(engine: Engine) -> None:
    """Belt and braces behind the pool's reset: no connection goes back to the pool inside a transaction."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection, connection_record):
        if dbapi_connection is None:  # invalidated
            return
        in_transaction = getattr(dbapi_connection, "in_transaction", None)
        if in_transaction is None:  # psycopg: the transaction status of the server connection
            info = getattr(dbapi_connection, "info", None)
            in_transaction = info is not None and info.transaction_status != 0  # 0: IDLE
        if in_transaction:
            try:
                dbapi_connection.rollback()
            except Exception:
                log.exception("rollback on checkin failed; the connection is discarded")
                connection_record.invalidate()


def _configure_sqlite(engine: Engine, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> None:
    _roll_back_on_checkin(engine)

    # A statement that failed on a lock may leave its connection holding an old snapshot (an unfinished
    # read on it survives ROLLBACK): close that connection instead of pooling it. Only this one, not the pool.
    @event.listens_for(engine, "handle_error")
    def _discard_locked(context):
        if isinstance(context.original_exception, sqlite3.OperationalError) and is_busy_error(
                context.original_exception):
            context.is_disconnect = True
            context.invalidate_pool_on_disconnect = False

    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_ms)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(sqlite_begin.get())


BUSY_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
    "57014",  # query_canceled (statement_timeout)
}


def is_busy_error(error: BaseException) -> bool:
    """A write that failed because others hold the database: retrying shortly will work (answer 503, not 500)."""
    if isinstance(error, exc.TimeoutError):  # the pool is exhausted
        return True
    original = getattr(error, "orig", None) or error
    if isinstance(original, sqlite3.OperationalError):
        text = str(original).lower()
        return "locked" in text or "busy" in text
    return getattr(original, "sqlstate", None) in BUSY_SQLSTATES


def is_duplicate_error(error: BaseException) -> bool:
    """A write refused by a unique key: someone else saved the same record at the same moment (answer 409)."""
    if not isinstance(error, exc.IntegrityError):
        return False
    original = error.orig
    if isinstance(original, sqlite3.IntegrityError):
        return "unique constraint failed" in str(original).lower()
    return getattr(original, "sqlstate", None) == "23505"  # PostgreSQL unique_violation


db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
