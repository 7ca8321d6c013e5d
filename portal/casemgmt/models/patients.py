"""Patients, their enrolments, ward coverage and handover notes."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, User
from portal.core import crypto, masking
from portal.core.models import Model

from .choices import ENROLMENT_STATES, GENDERS, ID_TYPES, PACKAGES

if TYPE_CHECKING:  # related classes are resolved by name through the mapper registry
    from .pathways import PathwayVersion


class Patient(Model):
    """A patient, identified by the real-name triple (name, ID type, ID number)."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("id_type", "id_number_hash", "name", name="uq_patients_identity"),
        # Case managers see the patients they registered (scoping.visible_patient_ids): found by author.
        Index("ix_patients_created_by_id", "created_by_id"),
    )

    name: Mapped[str] = mapped_column(String(50), index=True)
    id_type: Mapped[str] = mapped_column(String(16), default="resident")
    # Encrypted at rest (portal.core.crypto); the keyed hash finds a patient by number.
    id_number_enc: Mapped[str] = mapped_column(String(255))
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(40), default="")  # what screens show
    phone_enc: Mapped[str | None] = mapped_column(String(255))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str] = mapped_column(String(24), default="")
    hospital_no: Mapped[str | None] = mapped_column(String(32), unique=True)  # 住院号 / 病案号
    gender: Mapped[str] = mapped_column(String(1), default="U")
    birth_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")

    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="patient", order_by="Enrolment.id.desc()")

    @property
    def masked_name(self) -> str:
        return masking.mask_name(self.name)

    @property
    def id_type_label(self) -> str:
        return ID_TYPES.get(self.id_type, self.id_type)

    @property
    def gender_label(self) -> str:
        return GENDERS.get(self.gender, "")

    @property
    def active_enrolment(self) -> Enrolment | None:
        return next((e for e in self.enrolments if e.status == "active"), None)


crypto.register_sealed(crypto.Sealed(Patient, encrypted=("id_number_enc", "phone_enc"),
                                     hashes=(("id_number_hash", "id_number_enc"), ("phone_hash", "phone_enc"))))


class Enrolment(Model):
    """A patient under management (入组): disease, package, ward, case manager and key dates."""

    __tablename__ = "enrolments"
    __table_args__ = (
        # At most one active enrolment per patient.
        Index("uq_enrolments_active_patient", "patient_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    icd10_code: Mapped[str] = mapped_column(String(16), index=True)
    disease_name: Mapped[str] = mapped_column(String(100))
    tnm_stage: Mapped[str] = mapped_column(String(32), default="")
    package: Mapped[str] = mapped_column(String(16), default="basic")
    package_months: Mapped[int | None] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    bed: Mapped[str] = mapped_column(String(16), default="")
    case_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    pathway_version_id: Mapped[int | None] = mapped_column(ForeignKey("pathway_versions.id", ondelete="RESTRICT"))
    admission_date: Mapped[date | None] = mapped_column(Date)
    surgery_date: Mapped[date | None] = mapped_column(Date)
    discharge_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str] = mapped_column(String(200), default="")

    patient: Mapped[Patient] = relationship(back_populates="enrolments")
    ward: Mapped[Department | None] = relationship(lazy="joined")
    case_manager: Mapped[User | None] = relationship(foreign_keys=[case_manager_id])
    pathway_version: Mapped[PathwayVersion | None] = relationship()

    @property
    def package_label(self) -> str:
        label = PACKAGES.get(self.package, self.package)
        return f"{label}（{self.package_months} 个月）" if self.package == "custom" and self.package_months else label

    @property
    def status_label(self) -> str:
        return ENROLMENT_STATES.get(self.status, self.status)

    def anchor_date(self, anchor: str) -> date | None:
        return {"enrolment": self.start_date, "admission": self.admission_date, "surgery": self.surgery_date,
                "discharge": self.discharge_date}.get(anchor)


class WardCoverage(Model):
    """Which case managers cover a ward: plan items for patients without a case manager go there."""

    __tablename__ = "ward_coverage"
    __table_args__ = (UniqueConstraint("ward_id", "case_manager_id"),)

    ward_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), index=True)
    case_manager_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    ward: Mapped[Department] = relationship(lazy="joined")
    case_manager: Mapped[User] = relationship(foreign_keys=[case_manager_id])


class HandoverNote(Model):
    """A note on a patient, optionally handed over to another case manager."""

    __tablename__ = "handover_notes"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)

    author: Mapped[User | None] = relationship(foreign_keys="HandoverNote.created_by_id")
    to_user: Mapped[User | None] = relationship(foreign_keys=[to_user_id])
