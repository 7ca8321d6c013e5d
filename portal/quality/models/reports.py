"""The surgery reports' monthly summaries: operations per month x department (x surgeon), one count per measure.

Kept current by every surgery write (``quality.reports.summary.add``, in the write's transaction), rebuilt from
``quality_surgeries`` by ``cli.py rebuild-summaries``. Operations, not persons.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Index, Integer
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
