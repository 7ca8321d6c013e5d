"""Expenditures against budget lines, and the warnings sent once per crossing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.models import Base, Model

from .projects import MONEY, BudgetLine, BudgetProject

# committed: over its line and waiting for approval; spent: counts as spent; rejected: not counted.
EXPENDITURE_STATES = {"spent": "已支出", "committed": "待审批（已占用）", "rejected": "未获批准"}
WARNING_KINDS = {"threshold": "执行率预警", "ahead": "超进度预警"}


class Expenditure(Model):
    __tablename__ = "budget_expenditures"
    __table_args__ = (UniqueConstraint("project_id", "voucher_no"),
                      Index("ix_budget_expenditures_project_status_line", "project_id", "status", "line_id"))

    project_id: Mapped[int] = mapped_column(ForeignKey("budget_projects.id", ondelete="CASCADE"))
    line_id: Mapped[int] = mapped_column(ForeignKey("budget_lines.id", ondelete="RESTRICT"), index=True)
    spent_on: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    description: Mapped[str] = mapped_column(String(500))
    voucher_no: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="spent")
    over_reason: Mapped[str] = mapped_column(Text, default="")
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))
    attachment_name: Mapped[str] = mapped_column(String(200), default="")
    attachment_type: Mapped[str] = mapped_column(String(100), default="")
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    project: Mapped[BudgetProject] = relationship()
    line: Mapped[BudgetLine] = relationship(lazy="joined")

    @property
    def status_label(self) -> str:
        return EXPENDITURE_STATES[self.status]


class SpendingMonth(Base):
    """Expenditures summed per project, line and month (the month of `spent_on`).

    Kept current by every write of an expenditure, in the same transaction (an upsert that adds to the sums,
    so two writes at once both count): `expenditures` counts every state, `committed` and `spent` sum the
    amounts in that state (rejected ones count in `expenditures` only). `cli.py rebuild-summaries` recomputes
    it from the expenditures.
    """

    __tablename__ = "budget_spending_months"
    __table_args__ = (PrimaryKeyConstraint("project_id", "line_id", "month", name="pk_budget_spending_months"),
                      Index("ix_budget_spending_months_month", "month"))

    project_id: Mapped[int] = mapped_column(ForeignKey("budget_projects.id", ondelete="CASCADE"))
    line_id: Mapped[int] = mapped_column(ForeignKey("budget_lines.id", ondelete="CASCADE"))
    month: Mapped[date] = mapped_column(Date)  # the first day of the month
    expenditures: Mapped[int] = mapped_column(Integer)
    committed: Mapped[Decimal] = mapped_column(MONEY)
    spent: Mapped[Decimal] = mapped_column(MONEY)


class BudgetWarning(Model):
    """One warning sent; `key` is unique so a crossing is told once, whatever runs at the same time."""

    __tablename__ = "budget_warnings"

    key: Mapped[str] = mapped_column(String(80), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("budget_projects.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("budget_lines.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(300))

    line: Mapped[BudgetLine | None] = relationship()

    @property
    def kind_label(self) -> str:
        return WARNING_KINDS[self.kind]


class BudgetGeneration(Base):
    """One row: set to a new, never repeated value by database triggers on every write to the tables the spending
    report reads (projects, lines, expenditures, their monthly sums), in the writing transaction; a worker keeps a
    report result while it is unchanged."""

    __tablename__ = "budget_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)

