"""Test back ends: a fresh database per run (SQLite file or a new PostgreSQL database) and a Redis.

With PORTAL_TEST_DATABASE_URL / PORTAL_TEST_REDIS_URL unset: SQLite in a temporary folder and
the embedded Redis on a unix socket there. Otherwise a database named portal_test_<random> is
created on that PostgreSQL server and dropped at the end; Redis keys live under a queue name of
their own and the shared server is never flushed.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def postgres_admin_url() -> str | None:
    url = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


@contextmanager
def fresh_database(tmp: Path, label: str):
    """Yield the URL of a new, empty database; drop it afterwards."""
    admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite:///{tmp / f'{label}.db'}"
        return
    name = f"portal_test_{label}_{uuid.uuid4().hex[:10]}"
    base = make_url(admin).set(drivername="postgresql+psycopg")
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


@contextmanager
def redis_url(tmp: Path):
    """The shared Redis when given, else an embedded one of our own, stopped afterwards."""
    shared = os.environ.get("PORTAL_TEST_REDIS_URL")
    if shared:
        yield shared
        return
    from portal.core.redis_conn import embedded_redis_url, stop_embedded_redis

    folder = tmp / "redis"
    url = embedded_redis_url(str(folder))
    try:
        yield url
    finally:
        stop_embedded_redis(str(folder))
