"""Key-project budgets: the daily check for spending that runs ahead of the project's period."""

from __future__ import annotations

from . import job_context


def check_ahead_of_time() -> dict:
    """Warn (once per project) where the share spent runs ahead of the share of the period elapsed."""
    from portal.budget.execution.warnings import check_all_ahead

    with job_context():
        return check_all_ahead()
