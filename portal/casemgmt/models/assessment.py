"""The monthly assessment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.models import Model


class MonthlyAssessment(Model):
    """The hospital's monthly assessment of the service and the resulting settlement."""

    __tablename__ = "monthly_assessments"

    month: Mapped[date] = mapped_column(Date, unique=True)  # the first day of the month
    proposed_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    score: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    coefficient: Mapped[Decimal] = mapped_column(Numeric(3, 2))
    payable: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    fee: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    note: Mapped[str] = mapped_column(String(500), default="")
