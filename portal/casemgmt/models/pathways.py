"""Management pathways and their published versions and steps."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.models import Model

from .choices import ANCHORS, PACKAGES, TASK_TYPES


class PathwayVersion(Model):
    """One published state of a pathway's steps; enrolments keep the version they started on."""

    __tablename__ = "pathway_versions"
    __table_args__ = (UniqueConstraint("pathway_id", "number"),)

    pathway_id: Mapped[int] = mapped_column(ForeignKey("pathways.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(200), default="")

    steps: Mapped[list[PathwayStep]] = relationship(back_populates="version", order_by="PathwayStep.position",
                                                    cascade="all, delete-orphan")


class Pathway(Model):
    """A management pathway (管理路径) for a disease (ICD-10 code prefix) and package."""

    __tablename__ = "pathways"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Matches enrolments whose ICD-10 code starts with this prefix ("C34" covers C34.1).
    icd10_prefix: Mapped[str] = mapped_column(String(16), index=True)
    package: Mapped[str] = mapped_column(String(16), default="any")  # basic / custom / any
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    # Newest first: the first is the version new enrolments start on.
    versions: Mapped[list[PathwayVersion]] = relationship(order_by=PathwayVersion.number.desc(),
                                                          cascade="all, delete-orphan")

    @property
    def current_version(self) -> PathwayVersion | None:
        return self.versions[0] if self.versions else None

    @property
    def package_label(self) -> str:
        return PACKAGES.get(self.package, "全部服务包")


class PathwayStep(Model):
    __tablename__ = "pathway_steps"

    version_id: Mapped[int] = mapped_column(ForeignKey("pathway_versions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(100))
    task_type: Mapped[str] = mapped_column(String(32))
    anchor: Mapped[str] = mapped_column(String(16))  # enrolment / admission / surgery / discharge
    offset_days: Mapped[int] = mapped_column(Integer, default=0)  # may be negative (before surgery)
    window_days: Mapped[int] = mapped_column(Integer, default=0)  # done within offset .. offset+window
    # Recurring steps come again every N days, N times in all (including the first).
    recur_every_days: Mapped[int | None] = mapped_column(Integer)
    recur_times: Mapped[int | None] = mapped_column(Integer)
    outcome_fields: Mapped[list] = mapped_column(JSON, default=list)  # labels of the values to record

    version: Mapped[PathwayVersion] = relationship(back_populates="steps")

    @property
    def task_type_label(self) -> str:
        return TASK_TYPES.get(self.task_type, self.task_type)

    @property
    def anchor_label(self) -> str:
        return ANCHORS.get(self.anchor, self.anchor)

    @property
    def occurrences(self) -> int:
        return max(1, self.recur_times or 1) if self.recur_every_days else 1
