"""Rows per second of a 20,000-row staff register import: preview, first commit, unchanged and corrected.

    python -m bench.imports                          # SQLite in a temporary folder
    python -m bench.imports postgresql://postgres@127.0.0.1:5432/postgres   # a new database on that server

With a PostgreSQL URL a database named portal_bench_<random> is created there and dropped afterwards.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.config import TestConfig
from portal.core import migrate
from portal.core.redis_conn import stop_embedded_redis
from portal.extensions import db

ROWS = 20_000
DEPARTMENTS = 40


def workbook(rows: int, suffix: str = "") -> bytes:
    """As Excel or LibreOffice save it: shared strings and the sheet's dimension recorded."""
    wb = Workbook()
    ws = wb.active
    ws.title = "人员档案"
    ws.append(["工号", "姓名", "科室", "职称", "职务", "在职"])
    for n in range(rows):
        ws.append([f"B{n:06d}", f"员工{n}{suffix}", f"科室{n % DEPARTMENTS:02d}", "主治医师", "", "是"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@contextmanager
def database(url: str | None):
    if not url:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}", tmp
        return
    name = f"portal_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            yield make_url(url).set(database=name).render_as_string(hide_password=False), tmp
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(url: str | None = None, rows: int = ROWS) -> dict[str, float]:
    """Rows per second for each step, on a fresh database."""
    from portal.auth import org
    from portal.io import imports

    results = {}
    with database(url) as (db_url, tmp):
        migrate.upgrade(db_url)
        app = create_app(TestConfig, DATABASE_URL=db_url, REDIS_URL="", INSTANCE_PATH=tmp)
        try:
            with app.app_context():
                hospital = org.create_department(name="医院", code="H", kind="hospital", parent_id=None)
                division = org.create_department(name="院区", code="D", kind="division", parent_id=hospital.id)
                for n in range(DEPARTMENTS):
                    org.create_department(name=f"科室{n:02d}", code=f"K{n:02d}", kind="department",
                                          parent_id=division.id)
                db.session.commit()
                first, corrected = workbook(rows), workbook(rows, "改")
                steps = [("preview", lambda: imports.preview("staff", "b.xlsx", first)),
                         ("commit new", lambda: imports.commit("staff", "b.xlsx", first, "upsert", user_id=None)),
                         ("commit unchanged", lambda: imports.commit("staff", "b.xlsx", first, "upsert", user_id=None)),
                         ("commit corrected", lambda: imports.commit("staff", "c.xlsx", corrected, "upsert",
                                                                     user_id=None))]
                seconds = {}
                for label, step in steps:
                    started = time.perf_counter()
                    step()
                    db.session.commit()
                    seconds[label] = time.perf_counter() - started
                    results[label] = rows / seconds[label]
                # A commit is its preview (read and check the file) plus the bulk write.
                for label in ("commit new", "commit corrected"):
                    results[f"{label}: write only"] = rows / max(seconds[label] - seconds["preview"], 1e-6)
                db.session.remove()
        finally:
            app.extensions["db.engine"].dispose()
            stop_embedded_redis(tmp)
    return results


def report(url: str | None = None) -> None:
    backend = make_url(url).get_backend_name() if url else "sqlite"
    for label, rate in measure(url).items():
        print(f"staff import {ROWS} rows, {backend:10} {label:18} {rate:>9,.0f} rows/s")


if __name__ == "__main__":
    report(sys.argv[1] if len(sys.argv) > 1 else None)
