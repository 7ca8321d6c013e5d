"""Every model module, imported in one place for Alembic and the tests."""

from portal.api.models import ApiToken  # noqa: F401
from portal.approvals.models import (  # noqa: F401
    ApprovalAction,
    ApprovalAttachment,
    ApprovalInstance,
    ApprovalProcess,
    ApprovalStep,
    ApprovalTask,
    Committee,
)
from portal.auth.models import Department, LoginEvent, PasswordHistory, Role, RolePermission, Staff, User  # noqa: F401
from portal.casemgmt.models import (  # noqa: F401
    AdverseEvent,
    CareTask,
    Enrolment,
    HandoverNote,
    LedgerEntry,
    MonthlyAssessment,
    Pathway,
    PathwayStep,
    PathwayVersion,
    Patient,
    Plan,
    PlanItem,
    SatisfactionSurvey,
    TaskListBuild,
    WardCoverage,
)
from portal.core.audit import AuditLog  # noqa: F401
from portal.io.models import ImportLog  # noqa: F401
from portal.notify.models import Notification, OutboxMessage  # noqa: F401
from portal.reports.models import ReportRun  # noqa: F401
from portal.supervision.models import Finding  # noqa: F401
