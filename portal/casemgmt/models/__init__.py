"""Case management's models, one module per sub-area; everything is importable from here."""

from .assessment import MonthlyAssessment  # noqa: F401
from .choices import *  # noqa: F403 (every code list)
from .feedback import AdverseEvent, SatisfactionSurvey  # noqa: F401
from .ledger import LedgerEntry, LedgerMonth, LedgerPatientMonths, LedgerServedMonth, LedgerServedPatients  # noqa: F401
from .pathways import Pathway, PathwayStep, PathwayVersion  # noqa: F401
from .patients import Enrolment, HandoverNote, Patient, WardCoverage  # noqa: F401
from .plans import Plan, PlanItem  # noqa: F401
from .tasks import CareTask, CareTaskPatient, TaskLabels, TaskListBuild  # noqa: F401
