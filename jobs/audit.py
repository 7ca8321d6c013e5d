"""Nightly check of the audit log chain."""

from __future__ import annotations

from . import job_context


def verify_audit_chain() -> dict:
    """Recompute the chain; a broken link is logged as an error for the operators."""
    from portal.core.audit import verify_chain

    with job_context() as app:
        report = verify_chain()
        if not report.ok:
            app.logger.error("audit chain broken at record %s: %s", report.broken_id, report.reason)
        return {"checked": report.checked, "broken_id": report.broken_id, "reason": report.reason}
