"""The daily qualification expiry run: reminders at each reminder day, and records past their end flipped."""

from __future__ import annotations

from . import job_context


def remind_qualification_expiry() -> dict:
    """Remind holders, department heads and medical affairs of expiring qualifications; mark expired ones."""
    from portal.credentials.qualifications.services import run_expiry

    with job_context():
        return run_expiry()
