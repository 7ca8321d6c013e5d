"""A key project (重点项目), its budget lines and the approved versions of its budget."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department
from portal.core.models import Model, UTCDateTime

MONEY = Numeric(14, 2)

PROJECT_STATES = {"active": "执行中", "closed": "已决算"}
CATEGORIES = {"equipment": "设备购置", "materials": "材料费", "personnel": "劳务费", "training": "培训与会议",
              "travel": "差旅费", "publication": "出版与知识产权", "other": "其他"}
CHANGE_KINDS = {"increase": "追加预算", "move": "科目间调剂"}
CHANGE_STATES = {"pending": "审批中", "returned": "已退回", "approved": "已生效", "rejected": "已驳回",
                 "withdrawn": "已撤回"}


class BudgetProject(Model):
    __tablename__ = "budget_projects"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    # Execution-rate thresholds in percent that warn once each when crossed ("80,100").
    thresholds: Mapped[str] = mapped_column(String(40), default="80,100")
    # Percentage points by which the share spent may run ahead of the share of the period elapsed.
    ahead_margin: Mapped[int] = mapped_column(Integer, default=10)
    # Whether an expenditure over its line waits for approval (committed) rather than being spent at once.
    approve_over_line: Mapped[bool] = mapped_column(Boolean, default=False)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closing_note: Mapped[str] = mapped_column(Text, default="")

    department: Mapped[Department] = relationship(lazy="joined")
    lines: Mapped[list[BudgetLine]] = relationship(back_populates="project", order_by="BudgetLine.position")

    @property
    def status_label(self) -> str:
        return PROJECT_STATES[self.status]

    @property
    def threshold_list(self) -> list[int]:
        return sorted({int(t) for t in self.thresholds.split(",") if t.strip().isdigit()})


class BudgetLine(Model):
    """A line of the budget; a line may have sub-lines (one level). Expenditures go to lines without sub-lines."""

    __tablename__ = "budget_lines"
    __table_args__ = (UniqueConstraint("project_id", "code"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("budget_projects.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("budget_lines.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    variance_note: Mapped[str] = mapped_column(Text, default="")  # the final accounts' explanation

    project: Mapped[BudgetProject] = relationship(back_populates="lines")

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category)

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"


class BudgetVersion(Model):
    """An approved state of the whole budget: version 1 at creation, one more per approved change."""

    __tablename__ = "budget_versions"
    __table_args__ = (UniqueConstraint("project_id", "number"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("budget_projects.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(500), default="")
    total: Mapped[Decimal] = mapped_column(MONEY)


class BudgetVersionLine(Model):
    __tablename__ = "budget_version_lines"
    __table_args__ = (UniqueConstraint("version_id", "line_id"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("budget_versions.id", ondelete="CASCADE"))
    line_id: Mapped[int] = mapped_column(ForeignKey("budget_lines.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)


class BudgetChange(Model):
    """A requested change (an increase of a line, or a move between lines), approved through the engine."""

    __tablename__ = "budget_changes"

    project_id: Mapped[int] = mapped_column(ForeignKey("budget_projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_line_id: Mapped[int | None] = mapped_column(ForeignKey("budget_lines.id", ondelete="CASCADE"))
    to_line_id: Mapped[int] = mapped_column(ForeignKey("budget_lines.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))
    version_number: Mapped[int | None] = mapped_column(Integer)  # the version it produced

    project: Mapped[BudgetProject] = relationship()
    from_line: Mapped[BudgetLine | None] = relationship(foreign_keys=[from_line_id])
    to_line: Mapped[BudgetLine] = relationship(foreign_keys=[to_line_id])

    @property
    def kind_label(self) -> str:
        return CHANGE_KINDS[self.kind]

    @property
    def status_label(self) -> str:
        return CHANGE_STATES[self.status]


