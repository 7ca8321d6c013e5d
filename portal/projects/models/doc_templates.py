"""The template library (模板管理): categories, templates and their kept versions."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from portal.core.models import Model


class TemplateCategory(Model):
    __tablename__ = "project_template_categories"

    name: Mapped[str] = mapped_column(String(60), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class DocTemplate(Model):
    __tablename__ = "project_templates"

    category_id: Mapped[int] = mapped_column(ForeignKey("project_template_categories.id", ondelete="RESTRICT"),
                                             index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    current_version: Mapped[int] = mapped_column(Integer, default=0)

    category: Mapped[TemplateCategory] = relationship(lazy="joined")
    versions: Mapped[list[TemplateVersion]] = relationship(
        lazy="selectin", order_by="TemplateVersion.number.desc()", back_populates="template")

    @property
    def latest(self) -> TemplateVersion | None:
        return self.versions[0] if self.versions else None


class TemplateVersion(Model):
    __tablename__ = "project_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "number"),)

    template_id: Mapped[int] = mapped_column(ForeignKey("project_templates.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))

    template: Mapped[DocTemplate] = relationship(back_populates="versions")
