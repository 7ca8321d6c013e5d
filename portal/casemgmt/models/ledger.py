"""The service ledger."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, Index, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, User
from portal.core.models import Base, Model

from .choices import OUTCOMES, TASK_TYPES

if TYPE_CHECKING:  # related classes are resolved by name through the mapper registry
    from .patients import Patient


class LedgerEntry(Model):
    """The service ledger (服务台账): every completed task and ad-hoc service."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_month", "service_date", "case_manager_id"),
        # The KPIs' patients served in a month, per case manager: answered from the index alone.
        Index("ix_ledger_entries_served", "service_date", "case_manager_id", "patient_id"),
    )

    service_date: Mapped[date] = mapped_column(Date)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="RESTRICT"))
    case_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id", ondelete="RESTRICT"), unique=True)
    task_type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    icd10_code: Mapped[str] = mapped_column(String(16), default="")
    disease_name: Mapped[str] = mapped_column(String(100), default="")
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    note: Mapped[str] = mapped_column(String(500), default="")

    patient: Mapped[Patient] = relationship(lazy="joined")
    case_manager: Mapped[User | None] = relationship(foreign_keys=[case_manager_id])
    ward: Mapped[Department | None] = relationship(lazy="joined")

    @property
    def task_type_label(self) -> str:
        return TASK_TYPES.get(self.task_type, self.task_type)

    @property
    def outcome_label(self) -> str:
        return OUTCOMES.get(self.outcome, self.outcome)


class LedgerMonth(Base):
    """The ledger summed per month, patient, case manager, service type, disease and source (任务/临时).

    Kept current by the services that write ledger rows, in the same transaction (an upsert that adds to the
    counts, so two completions at once both count); `cli.py rebuild-summaries` recomputes it from the ledger.
    Long-period reports read it: services and outcomes are sums, patients are count(distinct patient_id).
    `case_manager_id` 0 stands for "unassigned" (a unique key treats NULLs as different).
    """

    __tablename__ = "ledger_months"
    __table_args__ = (
        PrimaryKeyConstraint("month", "case_manager_id", "task_type", "icd10_code", "disease_name", "source",
                             "patient_id", name="pk_ledger_months"),
        Index("ix_ledger_months_manager", "case_manager_id", "month"),
    )

    month: Mapped[date] = mapped_column(Date)  # the first day of the month
    case_manager_id: Mapped[int] = mapped_column(Integer, default=0)
    task_type: Mapped[str] = mapped_column(String(32))
    icd10_code: Mapped[str] = mapped_column(String(16), default="")
    disease_name: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(8))  # task | adhoc
    patient_id: Mapped[int] = mapped_column(Integer)
    services: Mapped[int] = mapped_column(Integer, default=0)
    reached: Mapped[int] = mapped_column(Integer, default=0)
    not_reached: Mapped[int] = mapped_column(Integer, default=0)
    declined: Mapped[int] = mapped_column(Integer, default=0)
