"""Approval processes (definitions as data), committees, and the instances, tasks and timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.core.models import Base, IdMixin, Model, UTCDateTime
from portal.core.timeutil import utcnow

RULES = {"dept_head": "申请人所在科室主任", "role": "指定角色", "committee": "委员会", "user": "指定人员"}
COMMITTEE_MODES = {"any": "任一委员签署即可", "all": "全体委员均须签署"}
INSTANCE_STATES = {"pending": "审批中", "approved": "已通过", "rejected": "已驳回", "returned": "已退回修改",
                   "withdrawn": "已撤回"}
TASK_STATES = {"pending": "待处理", "approved": "已通过", "rejected": "已驳回", "returned": "已退回",
               "transferred": "已转办", "cancelled": "无需处理"}
ACTIONS = {"submit": "提交", "resubmit": "重新提交", "approve": "通过", "reject": "驳回", "return": "退回修改",
           "transfer": "转办", "comment": "评论", "withdraw": "撤回", "remind": "超时提醒", "escalate": "超时上报",
           "reroute": "改由医务科审批"}
STATE_BADGE = {"pending": "wait", "approved": "ok", "rejected": "bad", "returned": "warn", "withdrawn": "off",
               "transferred": "off", "cancelled": "off"}

committee_members = Table(
    "committee_members",
    Base.metadata,
    Column("committee_id", ForeignKey("committees.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Committee(Model):
    __tablename__ = "committees"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    members: Mapped[list[User]] = relationship(secondary=committee_members, lazy="selectin")


class ApprovalProcess(Model):
    __tablename__ = "approval_processes"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(255), default="")
    allow_withdraw: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    steps: Mapped[list[ApprovalStep]] = relationship(order_by="ApprovalStep.position", cascade="all, delete-orphan",
                                                     lazy="selectin")


class ApprovalStep(Base, IdMixin):
    __tablename__ = "approval_steps"
    __table_args__ = (UniqueConstraint("process_id", "position"),)

    process_id: Mapped[int] = mapped_column(ForeignKey("approval_processes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    rule: Mapped[str] = mapped_column(String(16))
    role_code: Mapped[str] = mapped_column(String(32), default="")
    committee_id: Mapped[int | None] = mapped_column(ForeignKey("committees.id", ondelete="RESTRICT"))
    committee_mode: Mapped[str] = mapped_column(String(8), default="any")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    time_limit_hours: Mapped[int | None] = mapped_column(Integer)
    escalate_after_hours: Mapped[int | None] = mapped_column(Integer)

    committee: Mapped[Committee | None] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(lazy="joined")

    @property
    def rule_label(self) -> str:
        if self.rule == "role":
            from portal.auth.seed import ROLES

            return f"角色：{ROLES.get(self.role_code, (self.role_code,))[0]}"
        if self.rule == "committee" and self.committee:
            return f"{self.committee.name}（{COMMITTEE_MODES[self.committee_mode]}）"
        if self.rule == "user" and self.user:
            return f"指定人员：{self.user.display_name}"
        return RULES.get(self.rule, self.rule)


class ApprovalInstance(Model):
    __tablename__ = "approval_instances"
    __table_args__ = (Index("ix_approval_instances_entity", "entity_type", "entity_id"),)

    process_id: Mapped[int] = mapped_column(ForeignKey("approval_processes.id", ondelete="RESTRICT"), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    step_position: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    process: Mapped[ApprovalProcess] = relationship(lazy="joined")
    applicant: Mapped[User] = relationship(lazy="joined", foreign_keys=[applicant_id])
    tasks: Mapped[list[ApprovalTask]] = relationship(back_populates="instance", order_by="ApprovalTask.id")
    actions: Mapped[list[ApprovalAction]] = relationship(order_by="ApprovalAction.id")

    @property
    def status_label(self) -> str:
        return INSTANCE_STATES[self.status]

    @property
    def badge_state(self) -> str:
        return STATE_BADGE[self.status]

    @property
    def current_step(self) -> ApprovalStep | None:
        steps = [s for s in self.process.steps if s.position == self.step_position]
        return steps[0] if steps else None


class ApprovalTask(Base, IdMixin):
    __tablename__ = "approval_tasks"
    __table_args__ = (
        Index("ix_approval_tasks_assignee_status", "assignee_id", "status"),
        # The to-do list: one user's pending tasks in deadline order (NULLS LAST is the default for ASC).
        Index("ix_approval_tasks_todo", "assignee_id", "due_at", "id",
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    )

    instance_id: Mapped[int] = mapped_column(ForeignKey("approval_instances.id", ondelete="CASCADE"), index=True)
    step_position: Mapped[int] = mapped_column(Integer)
    step_name: Mapped[str] = mapped_column(String(100))
    assignee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    escalate_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")

    instance: Mapped[ApprovalInstance] = relationship(back_populates="tasks")
    assignee: Mapped[User] = relationship(lazy="joined")

    @property
    def status_label(self) -> str:
        return TASK_STATES[self.status]

    @property
    def badge_state(self) -> str:
        return STATE_BADGE[self.status]


class ApprovalAction(Base, IdMixin):
    """The timeline: who did what, when, with which comment and attachments."""

    __tablename__ = "approval_actions"

    instance_id: Mapped[int] = mapped_column(ForeignKey("approval_instances.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("approval_tasks.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    step_name: Mapped[str] = mapped_column(String(100), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")
    attachments: Mapped[list[ApprovalAttachment]] = relationship(lazy="selectin")

    @property
    def action_label(self) -> str:
        return ACTIONS[self.action]


class ApprovalAttachment(Base, IdMixin):
    __tablename__ = "approval_attachments"

    instance_id: Mapped[int] = mapped_column(ForeignKey("approval_instances.id", ondelete="CASCADE"), index=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("approval_actions.id", ondelete="SET NULL"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # In the database, not on a local disk: every web host sees it and the backup holds it.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def kind(self) -> str:
        if self.content_type.startswith("image/"):
            return "image"
        if self.content_type == "application/pdf":
            return "pdf"
        if self.filename.lower().endswith(".xlsx"):
            return "xlsx"
        return "file"


# What users read in the audit log for an approval's state and actions (core.labels registry).
def _register_labels() -> None:
    from portal.core import labels

    labels.register_values("approval_instance", "status", INSTANCE_STATES)
    labels.register_values("approval_instance", "action", ACTIONS)
    labels.register_values("approval_task", "status", TASK_STATES)
    labels.register_fields("approval_instance", {"action": "审批操作", "comment": "意见", "status": "审批状态"})


_register_labels()
