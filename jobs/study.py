"""Study records: the daily check that sends the monthly reminders (from the configured day, once a month)."""

from __future__ import annotations

from . import job_context


def send_reminders() -> dict:
    """Remind departments without an approved plan for next month or without records for last month."""
    from portal.study.reminders import send_reminders as send

    with job_context():
        return send()
