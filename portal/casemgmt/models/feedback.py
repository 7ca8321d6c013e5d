"""Satisfaction surveys and adverse events / complaints."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.core.models import Model, UTCDateTime

from .choices import EVENT_KINDS, EVENT_STATES, SEVERITIES

if TYPE_CHECKING:  # related classes are resolved by name through the mapper registry
    from .patients import Patient


class SatisfactionSurvey(Model):
    """Timeliness, effectiveness and attitude, 1-5, for one service or one patient-month."""

    __tablename__ = "satisfaction_surveys"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id", ondelete="SET NULL"), unique=True)
    survey_month: Mapped[date] = mapped_column(Date, index=True)  # the first day of the month
    timeliness: Mapped[int] = mapped_column(Integer)
    effectiveness: Mapped[int] = mapped_column(Integer)
    attitude: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(500), default="")

    patient: Mapped[Patient] = relationship(lazy="joined")

    @property
    def mean(self) -> float:
        return (self.timeliness + self.effectiveness + self.attitude) / 3

    @property
    def is_satisfied(self) -> bool:
        return self.mean >= 4


class AdverseEvent(Model):
    """An adverse event or complaint: severity, handling and closure."""

    __tablename__ = "adverse_events"

    kind: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    occurred_on: Mapped[date] = mapped_column(Date, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    handling: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    patient: Mapped[Patient | None] = relationship(lazy="joined")
    case_manager: Mapped[User | None] = relationship(foreign_keys=[case_manager_id])

    @property
    def kind_label(self) -> str:
        return EVENT_KINDS.get(self.kind, self.kind)

    @property
    def severity_label(self) -> str:
        return SEVERITIES.get(self.severity, self.severity)

    @property
    def status_label(self) -> str:
        return EVENT_STATES.get(self.status, self.status)
