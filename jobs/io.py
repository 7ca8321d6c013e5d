"""Big Excel imports and exports, run by a worker while the page shows their progress; the purge of old originals."""

from __future__ import annotations

from . import job_context


def run_import(job_id: str) -> dict:
    """Commit an uploaded file in one transaction (see portal.io.background)."""
    from portal.io import background

    with job_context():
        return background.run_import(job_id)


def run_preview(job_id: str) -> dict:
    """Check a big upload row by row without writing anything (see portal.io.background)."""
    from portal.io import background

    with job_context():
        return background.run_preview(job_id)


def sweep_jobs() -> int:
    """Every minute: jobs whose heartbeat stopped (a killed worker) are marked failed, their users told."""
    from portal.io import background

    with job_context():
        return background.sweep_stalled()


def run_export(job_id: str) -> dict:
    """Write a registered export with the user's data scope and keep the file for a day."""
    from portal.io import background

    with job_context():
        return background.run_export(job_id)


def import_crashed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback: the job died (timeout, lost database); its transaction is already undone."""
    from portal.io import background

    with job_context():
        background.abandon("import", job.args[0])


def preview_crashed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback for a preview job."""
    from portal.io import background

    with job_context():
        background.abandon("import", job.args[0])


def export_crashed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback for an export job."""
    from portal.io import background

    with job_context():
        background.abandon("export", job.args[0])


def purge_import_originals() -> dict:
    """Delete the original files of personal-data imports older than PORTAL_IMPORT_ORIGINAL_DAYS (rows stay)."""
    from portal.io import originals

    with job_context():
        return originals.purge_originals()
