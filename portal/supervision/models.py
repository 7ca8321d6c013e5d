"""Supervision findings (督导问题) and their rectification (整改)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department
from portal.core.models import Model, UTCDateTime

STATES = {"issued": "待整改", "answered": "待评价", "rework": "需重新整改", "accepted": "已通过评价"}
STATE_BADGE = {"issued": "wait", "answered": "wait", "rework": "warn", "accepted": "ok"}


class Finding(Model):
    __tablename__ = "supervision_findings"
    # The home panel's counts of findings to rectify (by state, deadline and scope) read this index alone.
    __table_args__ = (Index("ix_supervision_findings_open", "status", "deadline", "department_id"),)

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="issued", index=True)
    rectification: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))

    department: Mapped[Department] = relationship(lazy="joined")

    @property
    def status_label(self) -> str:
        return STATES[self.status]

    @property
    def badge_state(self) -> str:
        return STATE_BADGE[self.status]

    def is_overdue(self, today: date) -> bool:
        return self.status in ("issued", "rework") and self.deadline < today


# What users read in the audit log for a finding's state (core.labels registry).
def _register_labels() -> None:
    from portal.core import labels

    labels.register_values("supervision_finding", "status", STATES)
    labels.register_fields("supervision_finding", {"description": "问题描述", "deadline": "整改期限"})


_register_labels()
