"""The surgery reports' monthly summary: operations per month x department x surgeon x grade x flags.

Kept current by every surgery write (``quality.reports.summary.add_surgeries``, in the write's transaction),
rebuilt from ``quality_surgeries`` by ``cli.py rebuild-summaries``. Operations, not persons.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.models import Base


class SurgeryMonth(Base):
    __tablename__ = "quality_surgery_months"
    __table_args__ = (Index("ix_quality_surgery_months_surgeon", "surgeon_id", "month"),)

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    surgeon_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grade: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    minimally_invasive: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    urgency: Mapped[str] = mapped_column(String(16), primary_key=True)
    day_surgery: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    surgeries: Mapped[int] = mapped_column(Integer, default=0)
