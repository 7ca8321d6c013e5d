"""The technology catalogue's daily reminders: restricted-technology filings and new-technology reports."""

from __future__ import annotations

from . import job_context


def send_reminders() -> dict:
    """Remind medical affairs of filings at 5/3/1 working days left and leads of reports due (each once)."""
    from portal.catalogue.filings.services import remind_due
    from portal.catalogue.newtech.services import remind_reports

    with job_context():
        return {**{f"filings_{k}": v for k, v in remind_due().items()},
                **{f"reports_{k}": v for k, v in remind_reports().items()}}
