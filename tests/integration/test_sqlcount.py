"""The statement recorder the cost tests rely on: it must see what is sent, so that "as many statements as
before" can never hold because nothing was recorded."""

from __future__ import annotations

from sqlalchemy import text

from portal.extensions import db
from tests.sqlcount import TRANSACTION_CONTROL, statements


def test_it_records_what_the_session_sends_in_order_and_stops_at_the_end_of_the_block(session):
    with statements(leave_out=TRANSACTION_CONTROL) as seen:  # the session opens a savepoint first
        db.session.execute(text("SELECT 1"))
        db.session.execute(text("  select 2"))
    db.session.execute(text("SELECT 3"))
    assert seen == ["SELECT 1", "  select 2"]
    in_transaction = 2 if db.engine.dialect.name == "postgresql" else None  # the test's own transaction
    assert seen.states == [in_transaction, in_transaction]
    seen.clear()
    assert seen == [] and seen.states == []


def test_it_listens_on_a_connection_and_keeps_or_leaves_out_statements_by_their_first_word(session):
    connection = db.session.connection()
    with statements(connection, only=("select", "UPDATE")) as kept, \
            statements(connection, leave_out=TRANSACTION_CONTROL) as work, statements(connection) as everything:
        connection.exec_driver_sql("SAVEPOINT counted")
        connection.exec_driver_sql("SELECT 1")
        connection.exec_driver_sql("UPDATE users SET login_name = login_name WHERE id = -1")
        connection.exec_driver_sql("RELEASE SAVEPOINT counted")
    assert kept == ["SELECT 1", "UPDATE users SET login_name = login_name WHERE id = -1"]
    assert work == kept
    assert len(everything) == 4 and everything[0].startswith("SAVEPOINT")
