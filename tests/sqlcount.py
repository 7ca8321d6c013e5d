"""The SQL statements an action sends, for tests that count them or look for one that must not be sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from portal.extensions import db

# What opening and closing transactions sends; tests about a request's own queries leave these out.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class Statements(list):
    """The statements in the order the driver received them (an executemany or a COPY is one statement).

    `states` holds the server's transaction status after each statement that completed (PostgreSQL:
    0 idle, 2 inside a transaction; None on SQLite).
    """

    def __init__(self) -> None:
        super().__init__()
        self.states: list[int | None] = []

    def clear(self) -> None:
        super().clear()
        self.states.clear()


def _prefixes(words: str | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(word.upper() for word in ((words,) if isinstance(words, str) else words))


@contextmanager
def statements(target=None, only: str | tuple[str, ...] = (),
               leave_out: str | tuple[str, ...] = ()) -> Iterator[Statements]:
    """Record the statements sent through `target` while the block runs.

    `target` is an Engine or a Connection (default: the current app's engine, which also covers the test's
    bound connection and the page-read engine). `only` keeps the statements that begin with one of these
    words, `leave_out` drops those that do (case-insensitive, leading blanks ignored), e.g.
    `only=("INSERT", "UPDATE")` or `leave_out=TRANSACTION_CONTROL`.
    """
    target = db.engine if target is None else target
    wanted, unwanted = _prefixes(only), _prefixes(leave_out)
    seen = Statements()

    def kept(statement: str) -> bool:
        start = statement.lstrip().upper()
        return (not wanted or start.startswith(wanted)) and not (unwanted and start.startswith(unwanted))

    # The statement is taken before it is sent (a failing one counts too, and bulk COPY only calls this one).
    def before(conn, cursor, statement, *args) -> None:
        if kept(statement):
            seen.append(statement)

    def after(conn, cursor, statement, *args) -> None:
        if kept(statement):
            info = getattr(conn.connection.dbapi_connection, "info", None)
            seen.states.append(getattr(info, "transaction_status", None))

    event.listen(target, "before_cursor_execute", before)
    event.listen(target, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", before)
        event.remove(target, "after_cursor_execute", after)
