"""The /api/v1 call log: written in bulk from its buffer every minute, purged nightly."""

from __future__ import annotations

from . import job_context


def flush_api_calls() -> int:
    """Write the buffered call log entries to the database."""
    from portal.api.calls import flush

    with job_context():
        return flush()


def purge_api_calls() -> dict:
    """Delete call log entries older than API_CALL_LOG_DAYS and expired signed-link nonces."""
    from portal.api.calls import purge

    with job_context():
        return purge()
