"""Medical-affairs projects (医务项目): the project, its required materials, one task per target department,
one item per (task, material) with its uploaded file versions, and the archives built for download."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from portal.auth.models import Department
from portal.core.models import Model, UTCDateTime

from .doc_templates import DocTemplate

PROJECT_STATES = {"draft": "草稿", "published": "进行中", "closed": "已关闭"}
PROJECT_BADGE = {"draft": "", "published": "wait", "closed": "ok"}
ITEM_STATES = {"pending": "未开始", "uploaded": "已上传", "submitted": "已提交", "passed": "已通过",
               "returned": "已退回"}
ITEM_BADGE = {"pending": "", "uploaded": "wait", "submitted": "wait", "passed": "ok", "returned": "bad"}


class Project(Model):
    __tablename__ = "projects"

    category: Mapped[str] = mapped_column(String(60), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    materials: Mapped[list[Material]] = relationship(lazy="selectin", order_by="Material.position",
                                                     back_populates="project")
    tasks: Mapped[list[ProjectTask]] = relationship(lazy="select", back_populates="project")

    @property
    def status_label(self) -> str:
        return PROJECT_STATES[self.status]

    @property
    def badge_state(self) -> str:
        return PROJECT_BADGE[self.status]

    def is_overdue(self, today: date) -> bool:
        return self.status == "published" and self.deadline < today


class Material(Model):
    __tablename__ = "project_materials"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(String(500), default="")
    template_id: Mapped[int | None] = mapped_column(ForeignKey("project_templates.id", ondelete="SET NULL"))

    project: Mapped[Project] = relationship(back_populates="materials")
    template: Mapped[DocTemplate | None] = relationship(lazy="joined")


class ProjectTask(Model):
    """A target department's share of a project; scoped by its department."""

    __tablename__ = "project_tasks"
    __table_args__ = (UniqueConstraint("project_id", "department_id"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    reminded_on: Mapped[date | None] = mapped_column(Date)

    project: Mapped[Project] = relationship(lazy="joined", back_populates="tasks")
    department: Mapped[Department] = relationship(lazy="joined")
    items: Mapped[list[ProjectItem]] = relationship(lazy="selectin", back_populates="task")


class ProjectItem(Model):
    """One material of one department: its state, its approval and its file versions."""

    __tablename__ = "project_items"
    __table_args__ = (UniqueConstraint("task_id", "material_id"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("project_tasks.id", ondelete="CASCADE"), index=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("project_materials.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))

    task: Mapped[ProjectTask] = relationship(back_populates="items")
    material: Mapped[Material] = relationship(lazy="joined")
    # Loaded when a task's page shows them (at most one query per material), not for lists and matrices.
    files: Mapped[list[ItemFile]] = relationship(lazy="select", order_by="ItemFile.version.desc()",
                                                 back_populates="item")

    @property
    def status_label(self) -> str:
        return ITEM_STATES[self.status]

    @property
    def badge_state(self) -> str:
        return ITEM_BADGE[self.status]

    @property
    def latest(self) -> ItemFile | None:
        return self.files[0] if self.files else None


class ItemFile(Model):
    __tablename__ = "project_item_files"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("project_items.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))

    item: Mapped[ProjectItem] = relationship(back_populates="files")


class ProjectArchive(Model):
    """A zip of a project's accepted materials, built by a job and kept on disk for its requester."""

    __tablename__ = "project_archives"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    path: Mapped[str] = mapped_column(String(500), default="")
    files: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(300), default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _register_labels() -> None:
    from portal.core import labels

    labels.register_values("project", "status", PROJECT_STATES)
    labels.register_fields("project", {"category": "项目类别", "title": "项目名称", "description": "项目说明",
                                       "starts_on": "开始日期", "ends_on": "结束日期", "deadline": "提交截止"})
    labels.register_values("project_item", "status", ITEM_STATES)


_register_labels()
