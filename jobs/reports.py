"""Reports: scheduled generation into the report archive."""

from __future__ import annotations

from . import job_context


def archive_monthly_reports(today: str | None = None) -> dict:
    """Archive last month of every report declared archive="monthly" (once per report and month).

    `today` (2026-11-03) stands for the local date, to fill a missed month by hand.
    """
    from datetime import date

    from portal.reports import services

    with job_context():
        return {"runs": services.generate_scheduled(date.fromisoformat(today) if today else None)}


def generate_report(code: str, args: dict | None = None, schedule: str = "") -> dict:
    """Archive one report with these filters (as the system: every department)."""
    from portal.reports import services

    with job_context():
        run = services.generate_run(code, args or {}, schedule=schedule or "job")
        return {"run_id": run.id, "filename": run.filename}
