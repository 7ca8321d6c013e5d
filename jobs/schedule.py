"""The portal's schedules, registered with RQ's cron scheduler (`python cli.py cron`).

Cron expressions are evaluated in UTC by RQ; `local_cron` turns a Beijing-time hour and
minute into the UTC expression so that schedules read as the hospital speaks of them.
"""

from __future__ import annotations

from rq.cron import CronScheduler

from . import approvals, audit, casemgmt, io, notify, reports

CHINA_UTC_OFFSET_HOURS = 8  # Asia/Shanghai has no daylight saving time


def local_cron(hour: int, minute: int) -> str:
    """Every day at hour:minute Beijing time, as a UTC cron expression."""
    utc_hour = (hour - CHINA_UTC_OFFSET_HOURS) % 24
    return f"{minute} {utc_hour} * * *"


def register_all(cron: CronScheduler, queue_name: str, sweep_seconds: int = 60) -> None:
    # 02:17 local: quiet hours, and away from :00/:30 when many systems run their jobs.
    # Verifies the audit chain against every anchor, then anchors its head outside the database.
    cron.register(audit.verify_audit_chain, queue_name, cron=local_cron(2, 17), name="verify_audit_chain")
    # Every minute: messages whose enqueue failed (Redis down) or whose delivery is due again.
    cron.register(notify.sweep_outbox, queue_name, interval=sweep_seconds, name="sweep_outbox")
    # Every minute: background jobs whose heartbeat stopped are failed and their users told.
    cron.register(io.sweep_jobs, queue_name, interval=60, name="sweep_jobs")
    # At :07, :22, :37, :52, never on :00/:30 when WeCom is busiest.
    cron.register(approvals.remind_overdue_approvals, queue_name, cron="7,22,37,52 * * * *",
                  name="remind_overdue_approvals")
    # 17:05 local: the next-day plan is due by 17:00, so an item submitted at 16:59 is already in.
    # Anything later is applied to the built lists as a plan revision (tasks.apply_plan_revision).
    cron.register(casemgmt.build_tomorrows_tasks, queue_name, cron=local_cron(17, 5), name="build_tomorrows_tasks")
    # 03:41 local: original import files with personal data past PORTAL_IMPORT_ORIGINAL_DAYS are deleted.
    cron.register(io.purge_import_originals, queue_name, cron=local_cron(3, 41), name="purge_import_originals")
    # 06:23 local every day: last month's reports go to the archive once (the job skips those already there).
    cron.register(reports.archive_monthly_reports, queue_name, cron=local_cron(6, 23), name="archive_monthly_reports")
