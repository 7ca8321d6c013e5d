"""Reminders and escalation of overdue approval tasks."""

from __future__ import annotations

from . import job_context


def remind_overdue_approvals() -> dict:
    """Remind approvers of overdue tasks; escalate to the medical affairs office after the second limit."""
    from portal.approvals.services import remind_overdue

    with job_context():
        return remind_overdue()
