"""The daily qualification expiry run: reminders at each reminder day, and records past their end flipped."""

from __future__ import annotations

from . import job_context


def remind_qualification_expiry() -> dict:
    """Remind holders, department heads and medical affairs of expiring qualifications; mark expired ones."""
    from portal.credentials.qualifications.services import run_expiry

    with job_context():
        return run_expiry()


def remind_privilege_expiry() -> dict:
    """Remind holders and department heads of privileges ending in 90 / 30 / 7 days, mark ended ones expired,
    and tell medical affairs of emergency overrides past their 24 hours."""
    from portal.credentials.privileges.services import remind_overdue_overrides, run_privilege_expiry

    with job_context():
        result = run_privilege_expiry()
        result["overdue_overrides"] = remind_overdue_overrides()
        return result


def notify_privilege_alerts() -> int:
    """Tell medical affairs and department heads of new interception alerts (in-app + WeCom)."""
    from portal.credentials.privileges.services import notify_alerts

    with job_context():
        return notify_alerts()
