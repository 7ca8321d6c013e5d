"""The portal's schedules, registered with RQ's cron scheduler (`python cli.py cron`).

Each installed domain declares its schedules (``Schedule`` in its ``DOMAIN``), with cron expressions in
Beijing time. RQ evaluates a cron expression in the cron process's local time, so `cli.py cron` first puts
its process on the hospital's clock (`use_hospital_clock`): the schedules then hold whatever time zone the
host is set to.
"""

from __future__ import annotations

import os
import time

from rq.cron import CronScheduler

from portal.core import domains

HOSPITAL_TZ = "Asia/Shanghai"


def use_hospital_clock() -> None:
    """Make this process's local time Beijing time (RQ's cron reads its expressions in local time)."""
    os.environ["TZ"] = HOSPITAL_TZ
    time.tzset()


def register_all(cron: CronScheduler, queue_name: str, config=None) -> None:
    """Every installed domain's schedules (jobs named by dotted path, resolved here).

    An interval given as a name is read from the configuration (e.g. "OUTBOX_SWEEP_SECONDS").
    """
    for schedule in domains.schedules():
        job = domains.resolve(schedule.job)
        if schedule.interval:
            interval = schedule.interval
            if isinstance(interval, str):
                interval = int((config or {}).get(interval, 60))
            cron.register(job, queue_name, interval=interval, name=schedule.name)
        else:
            cron.register(job, queue_name, cron=schedule.cron, name=schedule.name)
