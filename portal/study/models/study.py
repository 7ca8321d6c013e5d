"""The tables of study records: a plan per department and month, its sessions, a record per held session and
who attended it (ticked by the secretary or signed in on the phone)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, Staff
from portal.core.models import Base, IdMixin, Model, UTCDateTime
from portal.core.timeutil import utcnow

# Plans and records share the review states of the approval engine.
STATES = {"draft": "草稿", "submitted": "待审核", "approved": "已通过", "returned": "已退回"}
STATE_BADGE = {"draft": "off", "submitted": "wait", "approved": "ok", "returned": "warn"}
# One cell of the departments x months matrix.
CELL_STATES = {"none": "未提交计划", "submitted": "计划待审核", "approved": "计划已通过", "partial": "记录部分完成",
               "complete": "已完成", "returned": "已退回"}
CELL_BADGE = {"none": "off", "submitted": "wait", "approved": "wait", "partial": "warn", "complete": "ok",
              "returned": "bad"}
ATTENDANCE_METHODS = {"ticked": "秘书勾选", "signin": "手机签到"}


class StudyPlan(Model):
    """A department's study plan for one month (month = its first day)."""

    __tablename__ = "study_plans"
    __table_args__ = (UniqueConstraint("department_id", "month"),)

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    month: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))

    department: Mapped[Department] = relationship(lazy="joined")
    sessions: Mapped[list[StudySession]] = relationship(back_populates="plan", order_by="StudySession.day",
                                                        cascade="all, delete-orphan")

    @property
    def status_label(self) -> str:
        return STATES[self.status]

    @property
    def badge_state(self) -> str:
        return STATE_BADGE[self.status]

    def __repr__(self) -> str:
        return f"<StudyPlan {self.department_id} {self.month:%Y-%m} {self.status}>"


class StudySession(Base, IdMixin):
    """One planned session (计划条目): topic, day, speaker, intended attendees."""

    __tablename__ = "study_sessions"

    plan_id: Mapped[int] = mapped_column(ForeignKey("study_plans.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(200))
    speaker: Mapped[str] = mapped_column(String(50))
    attendees: Mapped[str] = mapped_column(String(200), default="")  # intended attendees, e.g. "全科医师"
    hours: Mapped[int] = mapped_column(Integer, default=60)  # planned minutes

    plan: Mapped[StudyPlan] = relationship(back_populates="sessions")
    record: Mapped[StudyRecord | None] = relationship(back_populates="session", uselist=False)

    def __repr__(self) -> str:
        return f"<StudySession {self.day} {self.topic}>"


class StudyRecord(Model):
    """What happened at one session: its own review, and the attendance with the minutes each person earned."""

    __tablename__ = "study_records"

    session_id: Mapped[int] = mapped_column(ForeignKey("study_sessions.id", ondelete="RESTRICT"), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    month: Mapped[date] = mapped_column(Date, index=True)
    held_on: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    minutes: Mapped[int] = mapped_column(Integer)  # duration of the session
    topic: Mapped[str] = mapped_column(String(200))
    speaker: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(Text, default="")  # 会议纪要
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    signin_token: Mapped[str] = mapped_column(String(32), unique=True)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))

    department: Mapped[Department] = relationship(lazy="joined")
    session: Mapped[StudySession] = relationship(back_populates="record")
    attendance: Mapped[list[StudyAttendance]] = relationship(back_populates="record",
                                                             order_by="StudyAttendance.id")

    @property
    def status_label(self) -> str:
        return STATES[self.status]

    @property
    def badge_state(self) -> str:
        return STATE_BADGE[self.status]

    def __repr__(self) -> str:
        return f"<StudyRecord {self.held_on} {self.topic}>"


class StudyAttendance(Base, IdMixin):
    """One person at one session; the unique key makes a repeated or concurrent sign-in a no-op."""

    __tablename__ = "study_attendance"
    __table_args__ = (UniqueConstraint("record_id", "staff_id"),)

    record_id: Mapped[int] = mapped_column(ForeignKey("study_records.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"), index=True)
    held_on: Mapped[date] = mapped_column(Date, index=True)  # copied from the record: hours per year by index
    method: Mapped[str] = mapped_column(String(16))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    minutes: Mapped[int] = mapped_column(Integer)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    record: Mapped[StudyRecord] = relationship(back_populates="attendance")
    staff: Mapped[Staff] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<StudyAttendance {self.record_id} {self.staff_id}>"


class StudyReminder(Base, IdMixin):
    """A reminder sent to a department for a month: the unique key keeps it to once per department and month."""

    __tablename__ = "study_reminders"
    __table_args__ = (UniqueConstraint("department_id", "month"),)

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), index=True)
    month: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<StudyReminder {self.department_id} {self.month}>"


class StudyGeneration(Base):
    """One row: set to a new, never repeated value by database triggers on every write to the tables the matrix
    reads, in the writing transaction; a worker keeps a built matrix while it is unchanged."""

    __tablename__ = "study_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


# The tables whose changes move the study generation (the migration puts a trigger on each): the matrix's plans,
# sessions and records, and the departments it lists by name (attendance is not counted in it).
MATRIX_WATCHED_TABLES = ("study_plans", "study_sessions", "study_records", "departments")


def _register_labels() -> None:
    from portal.core import labels

    for entity in ("study_plan", "study_record"):
        labels.register_values(entity, "status", STATES)
    labels.register_fields("study_plan", {"month": "月份", "note": "说明"})
    labels.register_fields("study_record", {"held_on": "学习日期", "topic": "主题", "speaker": "主讲人",
                                            "minutes": "时长（分钟）", "summary": "会议纪要"})


_register_labels()
