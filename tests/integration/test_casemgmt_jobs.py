"""The 17:05 build of tomorrow's task lists, run through a real queue and worker, and its schedule."""

from __future__ import annotations

from datetime import timedelta

from rq import SimpleWorker
from rq.cron import CronScheduler
from sqlalchemy import select

import jobs
from jobs.casemgmt import build_tomorrows_tasks
from jobs.schedule import register_all
from portal.casemgmt.models import CareTask, Plan
from portal.core.audit import AuditLog as Log
from portal.core.redis_conn import get_queue, get_redis
from portal.core.timeutil import local_today
from portal.extensions import db
from tests import cm_factories as cm


def _run(queue, job_function):
    job = queue.enqueue(job_function)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    return job.return_value()


def test_the_job_builds_tomorrows_lists_through_the_queue_once(app, tree):
    tomorrow = local_today() + timedelta(days=1)
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    cm.cover(ward, li)
    patients = [cm.make_patient(name) for name in ("钱一", "孙二")]
    plan = cm.make_plan(tomorrow, *({"patient_id": p.id, "ward_id": ward.id} for p in patients))
    plan_id = plan.id

    jobs.use_app(app)
    queue = get_queue()
    first = _run(queue, build_tomorrows_tasks)
    assert first["day"] == tomorrow.isoformat() and first["created"] == 2 and first["unassigned"] == 0
    built = db.session.scalars(select(CareTask).order_by(CareTask.id)).all()
    assert [(t.due_date, t.case_manager_id, t.source) for t in built] == [(tomorrow, li.id, "plan")] * 2
    assert db.session.get(Plan, plan_id).built_at is not None
    # Built by the system (no signed-in user), and audited.
    log = db.session.scalar(select(Log).where(Log.entity_type == "care_task_list").order_by(Log.id.desc()))
    assert log.entity_id == tomorrow.isoformat() and log.user_id is None and log.user_name == "系统"
    # Run again (a retry, or the supervisor's button before it): nothing new.
    second = _run(queue, build_tomorrows_tasks)
    assert second["created"] == 0 and second["updated"] == 0
    assert len(db.session.scalars(select(CareTask)).all()) == 2


def test_the_build_is_scheduled_at_1705_beijing_time(app):
    with app.app_context():
        scheduler = CronScheduler(connection=get_redis(), name="test-cron-casemgmt")
        register_all(scheduler, app.config["RQ_QUEUE"])
        found = {job.name: job for job in scheduler.get_jobs()}
    job = found["build_tomorrows_tasks"]
    assert job.cron == "5 17 * * *"  # Beijing time: cli.py cron runs on the hospital clock (see test_jobs)
    assert job.func_name == "jobs.casemgmt.build_tomorrows_tasks"
    assert job.queue_name == app.config["RQ_QUEUE"]
