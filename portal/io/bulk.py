"""Rows written in bulk: COPY and one UPDATE over arrays on PostgreSQL, the driver's executemany on SQLite.

psycopg runs an executemany as one statement per row (pipelined): at tens of thousands of rows the server's
per-statement work is what an import waits for (about 1,000 rows/s on a busy server). COPY sends new rows as
one stream, and one UPDATE joined to the rows' values (unnest of one array per column) corrects them all:
an order of magnitude faster. The values go through the columns' own bind processing (UTC timestamps,
JSON, encrypted fields) and missing columns take their Python-side default, as with an INSERT; the rows
join the caller's transaction and a refusal raises the usual SQLAlchemy error (IntegrityError, DataError).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.exc import DBAPIError

from portal.extensions import db


def insert_rows(table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts by column key, every row naming the same columns) in the current transaction."""
    if not rows:
        return
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name not in ("postgresql", "sqlite"):
        connection.execute(insert(table), list(rows))
        return
    given = [table.c[key] for key in rows[0]]
    defaults = {}
    for column in table.columns:
        default = column.default
        if column.key in rows[0] or default is None or not (default.is_scalar or default.is_callable):
            continue
        defaults[column] = default.arg(None) if default.is_callable else default.arg
    columns = given + list(defaults)
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    tail = [defaults[column] for column in defaults]
    keys = [column.key for column in given]

    def values(row: dict[str, Any]) -> list[Any]:
        return [value if process is None else process(value)
                for process, value in zip(processors, [row[key] for key in keys] + tail, strict=True)]

    preparer = dialect.identifier_preparer
    target = f"{preparer.format_table(table)} ({', '.join(preparer.quote(c.name) for c in columns)})"
    if dialect.name == "sqlite":  # the driver's own executemany: no per-row work in SQLAlchemy
        connection.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join('?' * len(columns))})",
                                   [tuple(values(row)) for row in rows])
        return
    statement = f"COPY {target} FROM STDIN"
    raw = connection.connection.driver_connection
    try:
        with raw.cursor() as cursor:
            # The connection's statement listeners see the COPY like any other statement (a page read's
            # connection sends BEGIN there, see extensions.lazy_begin; statement counters count it).
            for listener in connection.dispatch.before_cursor_execute:
                listener(connection, cursor, statement, (), None, True)
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(values(row))
    except psycopg.Error as error:  # as if it came through SQLAlchemy: IntegrityError, DataError, ...
        raise DBAPIError.instance(statement, None, error, psycopg.Error, dialect=dialect) from error


def update_rows(table: Table, rows: Sequence[dict[str, Any]], key: str = "id") -> None:
    """Set the columns each row names (every row the same ones) on the record whose `key` column it gives."""
    if not rows:
        return
    connection = db.session.connection()
    names = [name for name in rows[0] if name != key]
    if connection.dialect.name != "postgresql":
        # Bound names differ from the columns' (SQLAlchemy reserves those for the statement's own values).
        stmt = (update(table).where(table.c[key] == bindparam("b_" + key))
                .values({name: bindparam("b_" + name) for name in names}))
        connection.execute(stmt, [{"b_" + name: value for name, value in row.items()} for row in rows])
        return
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    columns = [table.c[key], *(table.c[name] for name in names)]
    arrays = []
    for column in columns:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[column.key] for row in rows]
        arrays.append(values if process is None else [process(value) for value in values])
    target = preparer.format_table(table)
    aliases = ", ".join(preparer.quote(c.name) for c in columns)
    sources = ", ".join(f"%s::{c.type.compile(dialect=dialect)}[]" for c in columns)
    settings = ", ".join(f"{preparer.quote(c.name)} = v.{preparer.quote(c.name)}" for c in columns[1:])
    match = preparer.quote(columns[0].name)
    connection.exec_driver_sql(f"UPDATE {target} SET {settings} FROM unnest({sources}) AS v({aliases}) "
                               f"WHERE {target}.{match} = v.{match}", tuple(arrays))
