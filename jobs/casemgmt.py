"""Case management: the daily build of tomorrow's task lists."""

from __future__ import annotations

from datetime import timedelta

from . import job_context


def build_tomorrows_tasks() -> dict:
    """Build every case manager's list for tomorrow (local date) from the plan and the pathways."""
    from portal.casemgmt.tasks.services import build_daily_tasks
    from portal.core.timeutil import local_today

    with job_context():
        result = build_daily_tasks(local_today() + timedelta(days=1))
        return {"day": result.day.isoformat(), "created": result.created, "updated": result.updated,
                "cancelled": result.cancelled, "carried_over": result.carried_over, "unassigned": result.unassigned}
