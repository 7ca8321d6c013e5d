"""Privilege checks after the fact (事中监管): violations found in the surgeries, and the risk alert sent once per
surgeon and day.

A violation is unique per surgery and kind: ``privilege`` (no valid performing privilege for the operation on
its date), ``overlap`` (the surgeon recorded in two operations at overlapping times) and ``planned`` (actual
surgeon other than the planned one). Written set-based by ``quality.violations.detect`` in the transaction of
every surgery import and push; an open one is re-derived when its surgery changes, a handled one is kept.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, Staff
from portal.core.models import Model, UTCDateTime

from .records import Surgery

VIOLATION_KINDS = {"privilege": "超权限手术", "overlap": "手术医师手术时间重合", "planned": "实际术者与计划术者不一致"}
VIOLATION_STATUSES = {"open": "待处理", "explained": "已说明", "emergency": "紧急情况已确认",
                      "rectification": "督导整改"}
PRIVILEGE_REASONS = {"none": "无相应级别或技术的手术授权", "own_only": "限制类/新技术须单项授权，分级授权不覆盖",
                     "expired": "授权已到期", "suspended": "授权已暂停", "future": "授权尚未生效"}


class QualityViolation(Model):
    __tablename__ = "quality_violations"
    __table_args__ = (
        UniqueConstraint("surgery_id", "kind"),
        Index("ix_quality_violations_open", "status", "operation_date"),
        Index("ix_quality_violations_staff", "staff_id", "operation_date"),
        Index("ix_quality_violations_department", "department_id", "operation_date"),
        Index("ix_quality_violations_kind", "kind", "operation_date", "id"),  # one kind in every state
        Index("ix_quality_violations_other", "other_surgery_id"),  # the other side of an overlap, on a correction
    )

    surgery_id: Mapped[int] = mapped_column(ForeignKey("quality_surgeries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16), default="")  # PRIVILEGE_REASONS, for kind privilege
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    operation_date: Mapped[date] = mapped_column(Date)
    other_surgery_id: Mapped[int | None] = mapped_column(Integer)  # overlap: one overlapping surgery
    status: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str] = mapped_column(String(1000), default="")
    override_id: Mapped[int | None] = mapped_column(ForeignKey("privilege_overrides.id", ondelete="SET NULL"))
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("supervision_findings.id", ondelete="SET NULL"))
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    surgery: Mapped[Surgery] = relationship(lazy="joined")
    staff: Mapped[Staff] = relationship(lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")

    @property
    def kind_label(self) -> str:
        return VIOLATION_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return VIOLATION_STATUSES.get(self.status, self.status)

    @property
    def reason_label(self) -> str:
        return PRIVILEGE_REASONS.get(self.reason, "")


class QualityRiskAlert(Model):
    """One risk alert (风险预警) per surgeon and operation day: the unique key makes concurrent imports notify once."""

    __tablename__ = "quality_risk_alerts"
    __table_args__ = (UniqueConstraint("staff_id", "day"),)

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer, default=0)
