"""The surgery reports' monthly summaries: operations per month x department (x surgeon), one count per measure.

Kept current by every surgery write (``quality.reports.summary.add``, in the write's transaction), rebuilt from
``quality_surgeries`` by ``cli.py rebuild-summaries``. Operations, not persons.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Index, Integer, PrimaryKeyConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.models import Base

# The counted measures (a column each): an operation counts in `surgeries` and in each measure it meets.
SURGERY_MEASURES = ("surgeries", "grade1", "grade2", "grade3", "grade4", "surgery", "interventional", "mi",
                    "emergency", "elective", "limited", "day")


class _Measures:
    surgeries: Mapped[int] = mapped_column(Integer, default=0)
    grade1: Mapped[int] = mapped_column(Integer, default=0)
    grade2: Mapped[int] = mapped_column(Integer, default=0)
    grade3: Mapped[int] = mapped_column(Integer, default=0)
    grade4: Mapped[int] = mapped_column(Integer, default=0)
    surgery: Mapped[int] = mapped_column(Integer, default=0)
    interventional: Mapped[int] = mapped_column(Integer, default=0)
    mi: Mapped[int] = mapped_column(Integer, default=0)
    emergency: Mapped[int] = mapped_column(Integer, default=0)
    elective: Mapped[int] = mapped_column(Integer, default=0)
    limited: Mapped[int] = mapped_column(Integer, default=0)
    day: Mapped[int] = mapped_column(Integer, default=0)


class SurgeryMonth(_Measures, Base):
    """Per month and operating department (the department and month reports)."""

    __tablename__ = "quality_surgery_months"

    month: Mapped[date] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class SurgeonMonth(_Measures, Base):
    """Per month, operating department and surgeon (the surgeon report)."""

    __tablename__ = "quality_surgeon_months"
    __table_args__ = (Index("ix_quality_surgeon_months_surgeon", "surgeon_id", "month"),)

    month: Mapped[date] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    surgeon_id: Mapped[int] = mapped_column(Integer, primary_key=True)


# Per operation, whether it had a matched event of each kind (one operation with two complications counts once).
OUTCOME_MEASURES = ("cases", "complication", "reoperation", "reop48", "reop31", "infection", "ssi")


class _Outcomes:
    cases: Mapped[int] = mapped_column(Integer, default=0)
    complication: Mapped[int] = mapped_column(Integer, default=0)
    reoperation: Mapped[int] = mapped_column(Integer, default=0)
    reop48: Mapped[int] = mapped_column(Integer, default=0)
    reop31: Mapped[int] = mapped_column(Integer, default=0)
    infection: Mapped[int] = mapped_column(Integer, default=0)
    ssi: Mapped[int] = mapped_column(Integer, default=0)


class OutcomeMonth(_Outcomes, Base):
    """Operations and operations with an event, per month, operating department, technology, grade and kind.

    The surgeon outcomes' department and hospital rates, the event-rate, capability and monitoring reports by
    department read it; kept current by every surgery and event write (``quality.outcomes.summary``).
    """

    __tablename__ = "quality_outcome_months"
    __table_args__ = (Index("ix_quality_outcome_months_technology", "technology_id", "month"),
                      Index("ix_quality_outcome_months_department", "department_id", "month"))

    month: Mapped[date] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    technology_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grade: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)


class SurgeonOutcomeMonth(_Outcomes, Base):
    """The same counts per month, operating department and surgeon (the event-rate report by surgeon)."""

    __tablename__ = "quality_surgeon_outcome_months"

    month: Mapped[date] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    surgeon_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class GradeOutcomeMonth(_Outcomes, Base):
    """The same counts per month, operating department and grade (the surgeon outcomes' rates by grade)."""

    __tablename__ = "quality_grade_outcome_months"

    month: Mapped[date] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grade: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class QualityGeneration(Base):
    """One row: set to a new, never repeated value by database triggers on every write to the operations, their
    events, the discharges, the quality summaries and what the quality reports label or join (departments, staff,
    the catalogue), in the writing transaction; what a worker keeps of surgeon outcomes and of the quality reports
    is valid while it is unchanged."""

    __tablename__ = "quality_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


# The tables whose changes move the quality generation (migrations 0036 and 0044 put a trigger on each).
OUTCOME_WATCHED_TABLES = ("quality_surgeries", "quality_events", "quality_outcome_months",
                          "quality_surgeon_outcome_months", "quality_grade_outcome_months", "quality_discharges",
                          "quality_months", "quality_surgery_months", "quality_surgeon_months",
                          "quality_surgeon_technology_months", "departments", "staff", "technologies",
                          "technology_departments", "technology_revisions")


class SurgeonTechnologyMonths(Base):
    """Which months a surgeon operated with a technology (at a grade, of a kind, in a department): one row per five
    years.

    `months` is a bit set of the 60 months from 1 January of `block` (a year divisible by 5): bit
    (year - block) * 12 + month - 1. The capability report by surgeon counts distinct technologies over the rows
    whose bits meet the period's: about a hundred thousand rows for five years instead of half a million
    operations. Kept current by every surgery write (``quality.reports.technologies``).
    """

    __tablename__ = "quality_surgeon_technology_months"
    __table_args__ = (PrimaryKeyConstraint("block", "surgeon_id", "technology_id", "grade", "kind", "department_id",
                                           name="pk_quality_surgeon_technology_months"),
                      # Covering, in the report's order: per surgeon, the distinct technologies come presorted.
                      Index("ix_quality_surgeon_technology_months_surgeon", "surgeon_id", "technology_id",
                            postgresql_include=["block", "months", "grade", "kind", "department_id"]))

    block: Mapped[int] = mapped_column(Integer)
    surgeon_id: Mapped[int] = mapped_column(Integer)
    technology_id: Mapped[int] = mapped_column(Integer)
    grade: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int] = mapped_column(Integer)
    months: Mapped[int] = mapped_column(BigInteger)
