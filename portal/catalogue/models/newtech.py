"""New technologies (新技术新项目): the application, its trial period and the scheduled progress reports.

An application goes through the approval engine (department head -> medical affairs -> the technology
committee -> the ethics committee). Approved, it creates (or marks) a catalogue entry with ``new_tech`` and
starts a trial with an interim report at half the period, an annual report for each full year and a final
report at its end. Medical affairs closes the trial: 转常规 (an ordinary entry) or 终止 (entry disabled).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, Staff, User
from portal.core.models import Model, UTCDateTime

from .technologies import Technology

PROJECT_STATES = {"applying": "审批中", "returned": "已退回修改", "rejected": "未获批准", "withdrawn": "已撤回",
                  "trial": "试用期", "routine": "已转常规", "terminated": "已终止"}
PROJECT_BADGE = {"applying": "wait", "returned": "warn", "rejected": "bad", "withdrawn": "off", "trial": "wait",
                 "routine": "ok", "terminated": "off"}
REPORT_KINDS = {"interim": "中期报告", "annual": "年度报告", "final": "总结报告"}
REPORT_STATES = {"due": "待提交", "submitted": "待审核", "returned": "已退回", "accepted": "已通过"}
REPORT_BADGE = {"due": "wait", "submitted": "wait", "returned": "warn", "accepted": "ok"}
DECISIONS = {"routine": "转常规", "terminated": "终止"}
MIN_TRIAL_MONTHS, MAX_TRIAL_MONTHS = 3, 36
REPORT_REMINDER_DAYS = (5, 1, 0)  # working days before the due date (0: due today / overdue)


class NewTechProject(Model):
    __tablename__ = "catalogue_newtech_projects"

    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40))  # the catalogue code it gets (or an existing entry's)
    category: Mapped[str] = mapped_column(String(16))
    grade: Mapped[int] = mapped_column(SmallInteger)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    lead_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"), index=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    description: Mapped[str] = mapped_column(Text)
    risk_assessment: Mapped[str] = mapped_column(Text)
    trial_months: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16), default="applying", index=True)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))
    technology_id: Mapped[int | None] = mapped_column(ForeignKey("technologies.id", ondelete="RESTRICT"), index=True)
    trial_start: Mapped[date | None] = mapped_column(Date)
    trial_end: Mapped[date | None] = mapped_column(Date)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    department: Mapped[Department] = relationship(lazy="joined")
    lead: Mapped[Staff] = relationship(lazy="joined")
    applicant: Mapped[User] = relationship(foreign_keys=[applicant_id])
    technology: Mapped[Technology | None] = relationship()
    reports: Mapped[list[NewTechReport]] = relationship(order_by="NewTechReport.due_date", back_populates="project")

    @property
    def status_label(self) -> str:
        return PROJECT_STATES[self.status]

    @property
    def badge_state(self) -> str:
        return PROJECT_BADGE[self.status]


class NewTechReport(Model):
    __tablename__ = "catalogue_newtech_reports"
    __table_args__ = (UniqueConstraint("project_id", "kind", "sequence"),
                      Index("ix_catalogue_newtech_reports_status_due", "status", "due_date"))

    project_id: Mapped[int] = mapped_column(ForeignKey("catalogue_newtech_projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="due")
    content: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))

    project: Mapped[NewTechProject] = relationship(back_populates="reports", lazy="joined")

    @property
    def title(self) -> str:
        label = REPORT_KINDS[self.kind]
        return f"第 {self.sequence} 年{label}" if self.kind == "annual" else label

    @property
    def status_label(self) -> str:
        return REPORT_STATES[self.status]

    @property
    def badge_state(self) -> str:
        return REPORT_BADGE[self.status]

    @property
    def open(self) -> bool:
        return self.status in ("due", "returned")

    def is_overdue(self, today: date) -> bool:
        return self.open and self.due_date < today


def _register_labels() -> None:
    from portal.core import labels

    labels.register_values("catalogue_newtech", "status", PROJECT_STATES)
    labels.register_values("catalogue_newtech_report", "status", REPORT_STATES)
    labels.register_values("catalogue_newtech_report", "kind", REPORT_KINDS)
    labels.register_fields("catalogue_newtech", {
        "name": "技术名称", "code": "编码", "department_id": "科室", "lead_staff_id": "技术负责人",
        "description": "技术说明", "risk_assessment": "风险评估", "trial_months": "试用期（月）", "status": "状态",
        "technology_id": "目录条目", "trial_start": "试用开始", "trial_end": "试用结束", "decision_reason": "结论理由"})
    labels.register_fields("catalogue_newtech_report", {"kind": "报告类型", "due_date": "应交日期",
                                                        "status": "状态", "content": "报告内容"})


_register_labels()
