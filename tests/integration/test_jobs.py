"""Jobs run for real: enqueued on Redis (embedded or the CI server) and drained by a burst worker."""

from __future__ import annotations

from rq import SimpleWorker
from rq.cron import CronScheduler

import jobs
from jobs.audit import verify_audit_chain
from jobs.schedule import local_cron, register_all
from portal.core.redis_conn import get_queue, get_redis
from tests.factories import make_staff


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


def test_schedules_are_in_beijing_time(app):
    assert local_cron(17, 0) == "0 9 * * *"
    assert local_cron(2, 17) == "17 18 * * *"
    with app.app_context():
        scheduler = CronScheduler(connection=get_redis(), name="test-cron")
        register_all(scheduler, app.config["RQ_QUEUE"])
        names = {job.name for job in scheduler.get_jobs()}
    assert {"verify_audit_chain", "sweep_outbox", "remind_overdue_approvals"} <= names
