"""Discharges (出院记录, from the 病案首页) and surgeries (手术记录), as HIS gives them.

A patient is a pseudonym only (never a name); 病案号 is kept to match events and masked in lists.
A surgery names its discharge by record id (``discharge_record_id``), not by key, so either may arrive first.
A discharge carries its indicator flags (``is_surgical`` ...): derived from its surgeries and their events by
``quality.summary.refresh`` in the transaction that changed them, read by the indicator report and its rows.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, Staff
from portal.core.models import Base, Model, UTCDateTime

from .choices import DISCHARGE_MODES, HEALINGS, INCISIONS, KINDS, URGENCIES

# The per-discharge indicator flags, in the order of the monthly summary's counts.
FLAGS = ("is_surgical", "has_mi", "has_grade4", "has_elective", "is_day_elective", "has_reop48", "has_reop31",
         "has_complication", "has_class1", "has_class1_infected")


def mask_record_no(number: str | None) -> str:
    """病案号 in lists: the first two and last two characters (ZY****34)."""
    if not number:
        return ""
    if len(number) <= 4:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 4) + number[-2:]


class Discharge(Model):
    __tablename__ = "quality_discharges"
    __table_args__ = (
        Index("ix_quality_discharges_period", "discharge_date", "department_id"),
        Index("ix_quality_discharges_department", "department_id", "discharge_date"),
    )

    record_id: Mapped[str] = mapped_column(String(64), unique=True)
    mrn: Mapped[str] = mapped_column(String(32), index=True)  # 病案号
    admission_no: Mapped[int] = mapped_column(SmallInteger, default=1)  # 住院次数
    patient_pseudonym: Mapped[str] = mapped_column(String(64), default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    admission_date: Mapped[date] = mapped_column(Date)
    discharge_date: Mapped[date] = mapped_column(Date)
    discharge_mode: Mapped[str] = mapped_column(String(16))
    day_surgery: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(8), default="import")
    is_surgical: Mapped[bool] = mapped_column(Boolean, default=False)
    has_mi: Mapped[bool] = mapped_column(Boolean, default=False)
    has_grade4: Mapped[bool] = mapped_column(Boolean, default=False)
    has_elective: Mapped[bool] = mapped_column(Boolean, default=False)
    is_day_elective: Mapped[bool] = mapped_column(Boolean, default=False)
    has_reop48: Mapped[bool] = mapped_column(Boolean, default=False)
    has_reop31: Mapped[bool] = mapped_column(Boolean, default=False)
    has_complication: Mapped[bool] = mapped_column(Boolean, default=False)
    has_class1: Mapped[bool] = mapped_column(Boolean, default=False)
    has_class1_infected: Mapped[bool] = mapped_column(Boolean, default=False)

    department: Mapped[Department] = relationship(lazy="joined")

    @property
    def masked_mrn(self) -> str:
        return mask_record_no(self.mrn)

    @property
    def mode_label(self) -> str:
        return DISCHARGE_MODES.get(self.discharge_mode, self.discharge_mode)


class Surgery(Model):
    __tablename__ = "quality_surgeries"
    __table_args__ = (
        Index("ix_quality_surgeries_period", "operation_date", "department_id"),
        # Covering: the capability report by surgeon counts distinct technologies from the index alone.
        Index("ix_quality_surgeries_surgeon", "surgeon_id", "operation_date",
              postgresql_include=["technology_id", "grade", "kind"]),
        Index("ix_quality_surgeries_grade", "operation_date", "grade"),
        Index("ix_quality_surgeries_mrn", "mrn", "operation_date"),
        Index("ix_quality_surgeries_technology", "technology_id", "operation_date"),
    )

    record_id: Mapped[str] = mapped_column(String(64), unique=True)
    discharge_record_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    mrn: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    surgeon_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    assistant1_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    assistant2_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    anaesthetist_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    anaesthesia_method: Mapped[str] = mapped_column(String(40), default="")
    technology_id: Mapped[int] = mapped_column(ForeignKey("technologies.id", ondelete="RESTRICT"))
    operation_code: Mapped[str] = mapped_column(String(40))  # 院内编码
    national_code: Mapped[str] = mapped_column(String(40), default="")  # 国家临床版3.0
    operation_name: Mapped[str] = mapped_column(String(200))
    grade: Mapped[int] = mapped_column(SmallInteger)
    perf_grade4: Mapped[bool] = mapped_column(Boolean, default=False)  # counted as grade 4 (an 介入 managed so)
    kind: Mapped[str] = mapped_column(String(16))  # surgery | interventional | procedure
    minimally_invasive: Mapped[bool] = mapped_column(Boolean, default=False)
    incision: Mapped[str] = mapped_column(String(4), default="")
    healing: Mapped[str] = mapped_column(String(2), default="")
    urgency: Mapped[str] = mapped_column(String(16))
    operation_date: Mapped[date] = mapped_column(Date)  # the local date the operation started
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    day_surgery: Mapped[bool] = mapped_column(Boolean, default=False)
    planned_surgeon_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    source: Mapped[str] = mapped_column(String(8), default="import")

    department: Mapped[Department] = relationship(lazy="joined")
    surgeon: Mapped[Staff] = relationship(foreign_keys=[surgeon_id], lazy="joined")

    @property
    def masked_mrn(self) -> str:
        return mask_record_no(self.mrn)

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def urgency_label(self) -> str:
        return URGENCIES.get(self.urgency, self.urgency)

    @property
    def incision_label(self) -> str:
        return INCISIONS.get(self.incision, self.incision)

    @property
    def healing_label(self) -> str:
        return HEALINGS.get(self.healing, self.healing)


class QualityMonth(Base):
    """The indicators' counts per month (of discharge) and discharge department: persons, not operations.

    Kept current by ``quality.summary.refresh`` in the transaction of every import and push (an upsert that
    adds the change), rebuilt from the records by ``cli.py rebuild-summaries``. 家庭病床撤床 counts nowhere.
    """

    __tablename__ = "quality_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discharges: Mapped[int] = mapped_column(Integer, default=0)
    is_surgical: Mapped[int] = mapped_column(Integer, default=0)
    has_mi: Mapped[int] = mapped_column(Integer, default=0)
    has_grade4: Mapped[int] = mapped_column(Integer, default=0)
    has_elective: Mapped[int] = mapped_column(Integer, default=0)
    is_day_elective: Mapped[int] = mapped_column(Integer, default=0)
    has_reop48: Mapped[int] = mapped_column(Integer, default=0)
    has_reop31: Mapped[int] = mapped_column(Integer, default=0)
    has_complication: Mapped[int] = mapped_column(Integer, default=0)
    has_class1: Mapped[int] = mapped_column(Integer, default=0)
    has_class1_infected: Mapped[int] = mapped_column(Integer, default=0)
