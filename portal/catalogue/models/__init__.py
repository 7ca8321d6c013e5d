"""The technology catalogue's tables: entries and their revisions (more areas add their modules here)."""

from .filings import (  # noqa: F401
    DOCUMENT_SLOTS,
    FILING_STATES,
    CatalogueReminder,
    FilingDocument,
    RestrictedFiling,
)
from .newtech import REPORT_KINDS, NewTechProject, NewTechReport  # noqa: F401
from .technologies import (  # noqa: F401
    CATEGORIES,
    FLAGS,
    GRADES,
    STATUSES,
    Technology,
    TechnologyDepartment,
    TechnologyRevision,
)
