"""Medical-affairs projects: the daily overdue reminders and the archive zip of a large project."""

from __future__ import annotations

from . import job_context


def remind_overdue() -> dict:
    """Each morning: departments with open materials past a project's deadline are told, once per task per day."""
    from portal.projects.projects.services import remind_overdue as remind

    with job_context():
        return {"reminded": remind()}


def build_archive(archive_id: int) -> dict:
    """Write a project's accepted materials to a zip on disk (streamed, one file at a time)."""
    from portal.projects.projects.services import archive_failed
    from portal.projects.projects.services import build_archive as build

    try:
        with job_context():
            archive = build(archive_id)
            return {"archive": archive_id, "files": archive.files if archive else 0}
    except Exception:
        with job_context():
            archive_failed(archive_id)
        raise


def purge_archives() -> dict:
    """Each night: archive zips older than a day are deleted from disk."""
    from portal.projects.projects.services import purge_archives as purge

    with job_context():
        return {"purged": purge()}
