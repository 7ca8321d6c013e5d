"""Drill: a real RQ worker (`cli.py worker`) is SIGKILLed in the middle of a big import, as the out-of-memory
killer would; its job row stops beating, the sweep marks it failed and tells the user, and nothing was written."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.auth.models import Staff
from portal.core import migrate
from portal.core.redis_conn import get_redis
from portal.extensions import db
from portal.io import background
from portal.io.models import Job
from portal.notify.models import Notification
from tests import factories
from tests.backends import fresh_database
from tests.conftest import build_app, xlsx_bytes

ROOT = Path(__file__).resolve().parents[2]
ROWS = 20_000


@pytest.fixture
def drill_app(tmp_root, redis_server):
    with fresh_database(tmp_root, "drill") as url:
        migrate.upgrade(url)
        app = build_app(url, redis_server, tmp_root / "drill-instance", JOB_HEARTBEAT_TIMEOUT=3)
        yield app
        with app.app_context():
            db.session.remove()
        app.extensions["db.engine"].dispose()


def start_worker(app) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"], "REDIS_URL": app.config["REDIS_URL"],
           "PORTAL_RQ_QUEUE": app.config["RQ_QUEUE"], "PORTAL_INSTANCE": app.config["INSTANCE_PATH"],
           "PORTAL_DATA_KEY": app.config["DATA_KEY"], "SECRET_KEY": app.config["SECRET_KEY"]}
    return subprocess.Popen([sys.executable, "cli.py", "worker"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def children(pid: int) -> list[int]:
    """The processes `pid` forked (the work-horse, the scheduler), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float, what: str, job=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    found = job() if job else None
    raise AssertionError(f"timed out waiting for {what}: {found and (found.state, found.done, found.message)}")


def test_a_killed_worker_leaves_a_job_the_sweep_fails_and_the_retry_imports(drill_app):
    with drill_app.app_context():
        tree = factories.make_tree()
        root = factories.make_user("drill_root", ["sysadmin"], tree.hospital)
        db.session.commit()
        staff_before = db.session.scalar(select(func.count()).select_from(Staff))
        content = xlsx_bytes([["工号", "姓名", "科室"]] + [[f"D{n:06d}", f"演练{n}", "心内科"] for n in range(ROWS)])
        job = background.start_import("staff", "演练.xlsx", content, "upsert", user_id=root.id, rows=ROWS)
        job_id, file_key = job.id, background._key("import", job.id) + ":file"
        db.session.remove()

    worker = start_worker(drill_app)
    try:
        with drill_app.app_context():
            def running() -> bool:
                db.session.remove()
                found = db.session.get(Job, job_id)
                return found is not None and found.state == "running"
            wait_for(running, 120, "the job to start", lambda: db.session.get(Job, job_id))
            db.session.remove()
    finally:
        # The work-horse (RQ gives it a session of its own) and the worker, without any clean-up.
        for pid in [*children(worker.pid), worker.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.wait(timeout=10)

    with drill_app.app_context():
        job = db.session.get(Job, job_id)
        assert job.state == "running" and job.finished_at is None  # what a dead worker leaves
        time.sleep(drill_app.config["JOB_HEARTBEAT_TIMEOUT"] + 1)
        assert background.sweep_stalled() == 1
        db.session.commit()
        job = db.session.get(Job, job_id)
        assert job.state == "failed" and "停止响应" in job.message
        note = db.session.scalars(select(Notification).where(Notification.user_id == root.id)).one()
        assert note.title == "导入失败：人员档案" and note.link == f"/imports/jobs/{job_id}"
        assert db.session.scalar(select(func.count()).select_from(Staff)) == staff_before  # nothing written
        assert background.file_kept(job)  # the page offers the retry with the same file
        again = background.retry(job, root.id)
        again_id = again.id
        db.session.remove()

    # The retry, run to the end by a fresh worker: the heartbeat and the bulk write do not block each other.
    worker = start_worker(drill_app)
    try:
        with drill_app.app_context():
            def finished() -> bool:
                db.session.remove()
                found = db.session.get(Job, again_id)
                return found is not None and found.finished
            wait_for(finished, 300, "the retry to finish", lambda: db.session.get(Job, again_id))
            again = db.session.get(Job, again_id)
            assert again.state == "done", again.message
            assert db.session.scalar(select(func.count()).select_from(Staff)) == staff_before + ROWS
            assert not get_redis().exists(background._key("import", again_id) + ":file")
            db.session.remove()
    finally:
        for pid in [*children(worker.pid), worker.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.wait(timeout=10)
    with drill_app.app_context():
        get_redis().delete(file_key)
