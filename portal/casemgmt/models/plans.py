"""The next-day plan and its items."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department
from portal.core import crypto
from portal.core.models import Model, UTCDateTime

from .choices import SPECIAL_NEEDS, TASK_TYPES

if TYPE_CHECKING:  # related classes are resolved by name through the mapper registry
    from .patients import Patient


class Plan(Model):
    """The next-day plan (次日服务计划) for one service date."""

    __tablename__ = "plans"

    plan_date: Mapped[date] = mapped_column(Date, unique=True)
    first_submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)  # something arrived after the cutoff
    revision: Mapped[int] = mapped_column(Integer, default=1)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the task lists were built
    # SHA-256 of the last API submission applied as a whole (its items all stored as sent, patients known);
    # cleared by every later change of the plan: the same body again is answered "unchanged" with one query.
    submission_digest: Mapped[str | None] = mapped_column(String(64))

    items: Mapped[list[PlanItem]] = relationship(back_populates="plan", order_by="PlanItem.id")


class PlanItem(Model):
    __tablename__ = "plan_items"
    __table_args__ = (UniqueConstraint("plan_id", "external_id"),)

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    # The issuer's own item id (HIS item id, or generated for form entries): resubmitting it revises it.
    external_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    # As submitted: the hospital number or ID number and name, kept to resolve unknown patients later.
    patient_ref: Mapped[str] = mapped_column(String(64), default="")
    patient_ref_hash: Mapped[str | None] = mapped_column(String(64))
    patient_name: Mapped[str] = mapped_column(String(50), default="")
    task_type: Mapped[str] = mapped_column(String(32))
    service_item: Mapped[str] = mapped_column(String(100), default="")
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    bed: Mapped[str] = mapped_column(String(16), default="")
    time_slot: Mapped[str] = mapped_column(String(16), default="any")
    special_needs: Mapped[list] = mapped_column(JSON, default=list)  # codes from SPECIAL_NEEDS
    special_note: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(16), default="form")
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)
    is_cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    plan: Mapped[Plan] = relationship(back_populates="items")
    patient: Mapped[Patient | None] = relationship()
    ward: Mapped[Department | None] = relationship(lazy="joined")

    @property
    def task_type_label(self) -> str:
        return TASK_TYPES.get(self.task_type, self.task_type)

    @property
    def special_need_labels(self) -> list[str]:
        return [SPECIAL_NEEDS.get(code, code) for code in self.special_needs or []]


# The hash of an unmatched item's reference finds its patient once registered: a hospital number is kept as given
# (hashed again under a new key); an ID number is kept masked, so its hash cannot be made again.
crypto.register_sealed(crypto.Sealed(PlanItem, hashes=(("patient_ref_hash", "patient_ref"),),
                                     plain_source=lambda ref: "*" not in ref,
                                     only=lambda item: item.patient_id.is_(None)))
