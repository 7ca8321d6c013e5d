"""The portal's schedules, registered with RQ's cron scheduler (`python cli.py cron`).

Each installed domain declares its schedules (``Schedule`` in its ``DOMAIN``), with cron expressions in
Beijing time. RQ evaluates cron expressions in the cron process's clock, which runs in UTC here;
`utc_cron` turns the Beijing hour into UTC so that schedules read as the hospital speaks of them.
"""

from __future__ import annotations

from rq.cron import CronScheduler

from portal.core import domains

CHINA_UTC_OFFSET_HOURS = 8  # Asia/Shanghai has no daylight saving time


def local_cron(hour: int, minute: int) -> str:
    """Every day at hour:minute Beijing time, as a UTC cron expression."""
    return utc_cron(f"{minute} {hour} * * *")


def utc_cron(expression: str) -> str:
    """A Beijing-time cron expression as UTC. The hour field may be * or a list of hours; day fields must be *
    when the hour moves across midnight (a weekday or date would then be wrong), so that is refused."""
    minute, hour, *days = expression.split()
    if hour == "*":
        return expression
    hours = [int(h) for h in hour.split(",")]
    if any(h < CHINA_UTC_OFFSET_HOURS for h in hours) and days != ["*", "*", "*"]:
        raise ValueError(f"cron {expression!r}: a day field with an hour before 08:00 Beijing time")
    return " ".join([minute, ",".join(str((h - CHINA_UTC_OFFSET_HOURS) % 24) for h in hours), *days])


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
            cron.register(job, queue_name, cron=utc_cron(schedule.cron), name=schedule.name)
