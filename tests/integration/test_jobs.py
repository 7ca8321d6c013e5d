"""Jobs run for real: enqueued on Redis (embedded or the CI server) and drained by a burst worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.cron import CronScheduler

import jobs
from jobs.audit import verify_audit_chain
from jobs.schedule import register_all
from portal.core.redis_conn import get_queue, get_redis
from tests.factories import make_staff

ROOT = Path(__file__).resolve().parents[2]


def test_audit_chain_job_runs_through_the_queue(app, tree):
    make_staff("甲", tree.cardiology)
    jobs.use_app(app)
    queue = get_queue()
    job = queue.enqueue(verify_audit_chain)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    result = job.return_value()
    assert result["broken_id"] is None and result["checked"] >= 8
    assert result["anchor"]["count"] == result["checked"]  # the verified head is anchored outside the database


SCHEDULE_PROBE = """
from datetime import datetime, timezone
from jobs.schedule import use_hospital_clock
from rq.cron import CronJob
use_hospital_clock()
job = CronJob(func=print, queue_name="q", cron="5 17 * * *")
print(job.get_next_enqueue_time().astimezone(timezone.utc).strftime("%H:%M"))
"""


@pytest.mark.parametrize("host_tz", ["UTC", "America/New_York", "Asia/Shanghai"])
def test_schedules_run_in_beijing_time_whatever_the_hosts_time_zone(host_tz):
    # 17:05 in Beijing is 09:05 UTC, on a host set to any time zone (RQ reads cron in local time).
    env = {**os.environ, "TZ": host_tz}
    out = subprocess.run([sys.executable, "-c", SCHEDULE_PROBE], env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True).stdout.strip()
    assert out == "09:05"


def test_every_declared_schedule_is_registered(app):
    with app.app_context():
        scheduler = CronScheduler(connection=get_redis(), name="test-cron")
        register_all(scheduler, app.config["RQ_QUEUE"])
        names = {job.name for job in scheduler.get_jobs()}
    assert {"verify_audit_chain", "sweep_outbox", "remind_overdue_approvals"} <= names
