"""Daily care tasks and the record of each task-list build."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, User
from portal.core.models import Base, Model, UTCDateTime

from .choices import CLOSED_STATES, OUTCOMES, SPECIAL_NEEDS, TASK_STATES, TASK_TYPES, TIME_SLOTS

if TYPE_CHECKING:  # related classes are resolved by name through the mapper registry
    from .patients import Enrolment, Patient
    from .plans import PlanItem


class TaskListBuild(Model):
    """When the task lists of a day were last built: a plan that arrives later still reaches the lists."""

    __tablename__ = "task_list_builds"

    day: Mapped[date] = mapped_column(Date, unique=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime)
    builds: Mapped[int] = mapped_column(Integer, default=1)
    last_result: Mapped[dict] = mapped_column(JSON, default=dict)


class TaskLabels:
    """What a task's card shows beside its columns (status, task_type, outcome, time_slot, special_needs,
    due_date): shared by the ORM task and the task list's plain rows."""

    @property
    def task_type_label(self) -> str:
        return TASK_TYPES.get(self.task_type, self.task_type)

    @property
    def status_label(self) -> str:
        return TASK_STATES.get(self.status, self.status)

    @property
    def outcome_label(self) -> str:
        return OUTCOMES.get(self.outcome or "", "")

    @property
    def time_slot_label(self) -> str:
        return TIME_SLOTS.get(self.time_slot, self.time_slot)

    @property
    def special_need_labels(self) -> list[str]:
        return [SPECIAL_NEEDS.get(code, code) for code in self.special_needs or []]

    def is_overdue(self, day: date) -> bool:
        return self.status == "open" and self.due_date < day

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATES


class CareTask(Model, TaskLabels):
    """One item on a case manager's daily task list."""

    __tablename__ = "care_tasks"
    __table_args__ = (
        # A pathway step occurs once per enrolment and occurrence; a plan item makes one task.
        UniqueConstraint("enrolment_id", "pathway_step_id", "occurrence", name="uq_care_tasks_step_occurrence"),
        UniqueConstraint("plan_item_id"),
        Index("ix_care_tasks_manager_day", "case_manager_id", "status", "due_date"),
        # The day's list: closed that day (a manager's, and the team's in the overview).
        Index("ix_care_tasks_status_due", "status", "due_date"),
        Index("ix_care_tasks_completed_at", "completed_at"),
        Index("ix_care_tasks_manager_completed", "case_manager_id", "completed_at"),
        # Patient visibility: the patients on a manager's tasks.
        Index("ix_care_tasks_manager_patient", "case_manager_id", "patient_id"),
        # The execution KPI: pathway steps by the end of their window, counted from the index alone.
        Index("ix_care_tasks_source_window", "source", "window_end", "status", "outcome", "completed_at"),
        Index("ix_care_tasks_flagged_at", "flagged_at"),
    )

    due_date: Mapped[date] = mapped_column(Date, index=True)
    first_due_date: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date | None] = mapped_column(Date)  # pathway steps: the last day within the window
    case_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="RESTRICT"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    plan_item_id: Mapped[int | None] = mapped_column(ForeignKey("plan_items.id", ondelete="SET NULL"))
    pathway_step_id: Mapped[int | None] = mapped_column(ForeignKey("pathway_steps.id", ondelete="RESTRICT"))
    occurrence: Mapped[int] = mapped_column(Integer, default=1)
    task_type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    bed: Mapped[str] = mapped_column(String(16), default="")
    time_slot: Mapped[str] = mapped_column(String(16), default="any")
    special_needs: Mapped[list] = mapped_column(JSON, default=list)
    special_note: Mapped[str] = mapped_column(String(200), default="")
    outcome_fields: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_values: Mapped[dict] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(500), default="")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reschedule_count: Mapped[int] = mapped_column(Integer, default=0)
    # "Not reached" attempts: the task stays open until PORTAL_CM_MAX_ATTEMPTS, then closes as unreached.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the task closed as unreached: it waits on the supervisor's overview until handled.
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the supervisor moves the task: a rebuild never undoes a reassignment.
    assigned_by_hand: Mapped[bool] = mapped_column(Boolean, default=False)

    patient: Mapped[Patient] = relationship(lazy="joined")
    enrolment: Mapped[Enrolment | None] = relationship()
    ward: Mapped[Department | None] = relationship(lazy="joined")
    case_manager: Mapped[User | None] = relationship(foreign_keys=[case_manager_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    plan_item: Mapped[PlanItem | None] = relationship()


class CareTaskPatient(Base):
    """Which patients a case manager has tasks for (any status, any day), with how many: patient visibility reads
    one manager's few hundred rows here instead of walking five years of tasks.

    Kept by database triggers on care_tasks (migration 0047), in the writing transaction, for every writer (the
    services, the 17:05 build's bulk insert, COPY): a pair appears with its first task and goes with its last
    (deleted or reassigned). Concurrent writers of one pair queue on its row.
    """

    __tablename__ = "care_task_patients"
    __table_args__ = (PrimaryKeyConstraint("case_manager_id", "patient_id", name="pk_care_task_patients"),)

    case_manager_id: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int] = mapped_column(Integer)
    tasks: Mapped[int] = mapped_column(Integer)
