"""Catalogue entries (技术目录): the hospital's operation dictionary with grades, flags and revisions.

The entry row holds the current state; every change also writes a ``TechnologyRevision`` with the whole
state as it became, who changed it, when and why, so any past revision and "as of date D" can be read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, User
from portal.core.models import Base, Model, UTCDateTime

CATEGORIES = {"surgery": "手术", "interventional": "介入", "endoscopy": "内镜", "anaesthesia": "麻醉",
              "invasive": "有创操作", "other": "其他"}
GRADES = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
STATUSES = {"active": "启用", "disabled": "停用"}
# Flag column -> label (performance-indicator grade 4, minimally invasive, day surgery, restricted, new).
FLAGS = {"perf_grade4": "绩效考核四级手术", "minimally_invasive": "微创", "day_surgery": "日间",
         "restricted": "限制类技术", "new_tech": "新技术新项目"}


class Technology(Model):
    __tablename__ = "technologies"
    __table_args__ = (
        Index("ix_technologies_national_code", "national_code"),
        Index("ix_technologies_status_grade", "status", "grade"),
    )

    code: Mapped[str] = mapped_column(String(40), unique=True)  # 院内编码
    national_code: Mapped[str] = mapped_column(String(40), default="")  # 国家临床版3.0
    insurance_code: Mapped[str] = mapped_column(String(40), default="")  # 医保版2.0
    name: Mapped[str] = mapped_column(String(200), index=True)
    category: Mapped[str] = mapped_column(String(16))
    grade: Mapped[int] = mapped_column(SmallInteger)
    perf_grade4: Mapped[bool] = mapped_column(Boolean, default=False)
    minimally_invasive: Mapped[bool] = mapped_column(Boolean, default=False)
    day_surgery: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    new_tech: Mapped[bool] = mapped_column(Boolean, default=False)
    # Qualification type codes a performer must hold (validated against the qualification types).
    prerequisites: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    note: Mapped[str] = mapped_column(Text, default="")

    departments: Mapped[list[Department]] = relationship(secondary="technology_departments",
                                                         order_by="Department.code")

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category)

    @property
    def grade_label(self) -> str:
        return GRADES.get(self.grade, str(self.grade))

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)


class TechnologyDepartment(Base):
    """The departments allowed to perform an entry."""

    __tablename__ = "technology_departments"

    technology_id: Mapped[int] = mapped_column(ForeignKey("technologies.id", ondelete="CASCADE"),
                                               primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"),
                                               primary_key=True, index=True)


class TechnologyRevision(Model):
    """One state of an entry: ``data`` is the whole entry as it became at ``valid_from``."""

    __tablename__ = "technology_revisions"
    __table_args__ = (UniqueConstraint("technology_id", "revision"),
                      Index("ix_technology_revisions_valid_from", "technology_id", "valid_from"))

    technology_id: Mapped[int] = mapped_column(ForeignKey("technologies.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500), default="")
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16), default="form")  # form / import / api / bulk

    changed_by: Mapped[User | None] = relationship(foreign_keys=[changed_by_id])
