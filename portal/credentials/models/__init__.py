"""Credentials' models, one module per sub-area; everything is importable from here."""

from .privileges import (  # noqa: F401
    Privilege,
    PrivilegeAlert,
    PrivilegeGeneration,
    PrivilegeOverride,
    PrivilegeRule,
)
from .qualifications import Qualification, QualificationType  # noqa: F401
