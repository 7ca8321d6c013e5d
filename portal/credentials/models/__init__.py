"""Credentials' models, one module per sub-area; everything is importable from here."""

from .qualifications import Qualification, QualificationType  # noqa: F401
