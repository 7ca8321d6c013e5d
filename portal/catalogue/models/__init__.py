"""The technology catalogue's tables: entries and their revisions (more areas add their modules here)."""

from .technologies import (  # noqa: F401
    CATEGORIES,
    FLAGS,
    GRADES,
    STATUSES,
    Technology,
    TechnologyDepartment,
    TechnologyRevision,
)
