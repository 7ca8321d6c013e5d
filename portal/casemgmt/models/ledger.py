"""The service ledger."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, PrimaryKeyConstraint, String
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
    """The ledger counted per month, case manager, service type, disease and source (task | adhoc).

    Kept current by the services that write ledger rows, in the same transaction (an upsert that adds to the
    counts, so two completions at once both count); `cli.py rebuild-summaries` recomputes it from the ledger.
    `case_manager_id` 0 stands for "unassigned" (a key treats NULLs as different).
    """

    __tablename__ = "ledger_months"
    __table_args__ = (PrimaryKeyConstraint("month", "case_manager_id", "task_type", "icd10_code", "disease_name",
                                           "source", name="pk_ledger_months"),)

    month: Mapped[date] = mapped_column(Date)  # the first day of the month
    case_manager_id: Mapped[int] = mapped_column(Integer)
    task_type: Mapped[str] = mapped_column(String(32))
    icd10_code: Mapped[str] = mapped_column(String(16))
    disease_name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(8))
    services: Mapped[int] = mapped_column(Integer)
    reached: Mapped[int] = mapped_column(Integer)
    not_reached: Mapped[int] = mapped_column(Integer)
    declined: Mapped[int] = mapped_column(Integer)


class LedgerPatientMonths(Base):
    """Which months a patient was served, per case manager, type, disease and source: one row per five years.

    `months` is a bit set of the 60 months from 1 January of `block` (a year divisible by 5): bit
    (year - block) * 12 + month - 1. Patients served over a period = count(distinct patient_id) of the rows whose
    bits meet the period's: tens of thousands of rows for five years instead of a million ledger rows.
    """

    __tablename__ = "ledger_patient_months"
    __table_args__ = (PrimaryKeyConstraint("block", "case_manager_id", "task_type", "icd10_code", "disease_name",
                                           "source", "patient_id", name="pk_ledger_patient_months"),)

    block: Mapped[int] = mapped_column(Integer)
    case_manager_id: Mapped[int] = mapped_column(Integer)
    task_type: Mapped[str] = mapped_column(String(32))
    icd10_code: Mapped[str] = mapped_column(String(16))
    disease_name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(8))
    patient_id: Mapped[int] = mapped_column(Integer)
    months: Mapped[int] = mapped_column(BigInteger)


class LedgerServedPatients(Base):
    """Which months a patient was served at all (any case manager, type or disease): one row per five years, bits
    as in LedgerPatientMonths. What keeps LedgerServedMonth exact: a ledger row counts its patient in the month
    only when it sets the month's bit here (an upsert that changes the row only then, so two at once count once)."""

    __tablename__ = "ledger_served_patients"
    __table_args__ = (PrimaryKeyConstraint("block", "patient_id", name="pk_ledger_served_patients"),)

    block: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int] = mapped_column(Integer)
    months: Mapped[int] = mapped_column(BigInteger)


class LedgerServedMonth(Base):
    """Distinct patients served per month (the KPIs' 服务患者数), kept current with LedgerServedPatients."""

    __tablename__ = "ledger_served_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the first day of the month
    patients: Mapped[int] = mapped_column(Integer)
