"""The quality domain's tables."""

from .choices import (  # noqa: F401
    COUNTED_KINDS,
    DISCHARGE_MODES,
    EVENT_KINDS,
    EVENT_STATUSES,
    EXCLUDED_MODE,
    HEALINGS,
    INCISIONS,
    KINDS,
    SSI_DEPTHS,
    URGENCIES,
)
from .events import QualityEvent  # noqa: F401
from .records import FLAGS, Discharge, QualityMonth, Surgery, mask_record_no  # noqa: F401
from .reports import (  # noqa: F401
    OUTCOME_MEASURES,
    OUTCOME_WATCHED_TABLES,
    SURGERY_MEASURES,
    GradeOutcomeMonth,
    OutcomeMonth,
    QualityGeneration,
    SurgeonMonth,
    SurgeonOutcomeMonth,
    SurgeonTechnologyMonths,
    SurgeryMonth,
)
from .violations import (  # noqa: F401
    PRIVILEGE_REASONS,
    VIOLATION_KINDS,
    VIOLATION_STATUSES,
    QualityRiskAlert,
    QualityViolation,
)
