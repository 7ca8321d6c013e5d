"""Rows per second of a staff register import (20,000 rows unless told): preview, first commit, unchanged and
corrected; and the peak resident memory of the process.

    python -m bench.imports                          # SQLite in a temporary folder
    python -m bench.imports postgresql://postgres@127.0.0.1:5432/postgres   # a new database on that server
    python -m bench.imports --rows 100000 [URL]      # beyond the type's cap: raised for the measurement only
    python -m bench.imports --in-place postgresql://postgres@127.0.0.1:5432/mydb   # an empty database of yours

With a PostgreSQL URL a database named portal_bench_<random> is created there and dropped afterwards.
"""

from __future__ import annotations

import gc
import io
import resource
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psutil
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
def database(url: str | None, in_place: bool = False):
    if url and in_place:  # the caller's own (empty) database: migrated and written here, dropped by the caller
        with tempfile.TemporaryDirectory() as tmp:
            yield url, tmp
        return
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


def measure(url: str | None = None, rows: int = ROWS, in_place: bool = False) -> dict[str, float]:
    """Rows per second for each step, on a fresh database; the peak resident memory while importing."""
    results = {}
    with database(url, in_place) as (db_url, tmp):
        _measure(db_url, tmp, rows, results)
    return results


class _PeakRss:
    """The process's largest resident set while a step runs, sampled every 20 ms (ru_maxrss cannot be reset,
    and generating the workbooks with openpyxl costs more than importing them)."""

    def __init__(self):
        self.peak = 0.0

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        process = psutil.Process()
        while True:
            self.peak = max(self.peak, process.memory_info().rss / 1024 / 1024)
            if self._stop.wait(0.02):
                return

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _measure(db_url: str, tmp: str, rows: int, results: dict[str, float]) -> None:
    from portal.auth import org
    from portal.io import imports

    migrate.upgrade(db_url)
    app = create_app(TestConfig, DATABASE_URL=db_url, REDIS_URL="", INSTANCE_PATH=tmp)
    staff_type = imports.TYPES["staff"]
    cap = staff_type.max_rows
    staff_type.max_rows = max(cap, rows)  # the product's cap is not what is measured
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
            gc.collect()
            with _PeakRss() as memory:
                before = memory.peak or psutil.Process().memory_info().rss / 1024 / 1024
                for label, step in steps:
                    started, cpu = time.perf_counter(), time.process_time()
                    step()
                    db.session.commit()
                    seconds[label] = time.perf_counter() - started
                    results[label] = rows / seconds[label]
                    # This process's CPU alone (not the database server's): the figure a busy machine blurs least.
                    results[f"{label}: rows per CPU second"] = rows / max(time.process_time() - cpu, 1e-6)
            # A commit is its preview (read and check the file) plus the bulk write.
            for label in ("commit new", "commit corrected"):
                results[f"{label}: write only"] = rows / max(seconds[label] - seconds["preview"], 1e-6)
            results["peak RSS MB while importing"] = memory.peak
            results["RSS MB before importing"] = before
            db.session.remove()
    finally:
        staff_type.max_rows = cap
        app.extensions["db.engine"].dispose()
        stop_embedded_redis(tmp)


def report(url: str | None = None, rows: int = ROWS, in_place: bool = False) -> None:
    backend = make_url(url).get_backend_name() if url else "sqlite"
    for label, rate in measure(url, rows, in_place).items():
        unit = "MB" if "MB" in label else "rows/s"
        print(f"staff import {rows} rows, {backend:10} {label:28} {rate:>9,.0f} {unit}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"staff import {rows} rows, {backend:10} peak RSS of the process {peak:,.0f} MB")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    count, here = ROWS, False
    while arguments[:1] in (["--rows"], ["--in-place"]):
        if arguments[0] == "--rows":
            count, arguments = int(arguments[1]), arguments[2:]
        else:
            here, arguments = True, arguments[1:]
    report(arguments[0] if arguments else None, count, here)
