"""Case management: patients, enrolments, pathways, the next-day plan, daily tasks, the ledger,
satisfaction, adverse events and the monthly assessment."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, User
from portal.core import masking
from portal.core.models import Model, UTCDateTime

ID_TYPES = {
    "resident": "居民身份证",
    "passport": "护照",
    "hk_macao": "港澳居民来往内地通行证",
    "taiwan": "台湾居民来往大陆通行证",
    "foreign": "外国人永久居留身份证",
    "other": "其他证件",
}
GENDERS = {"M": "男", "F": "女", "U": "未知"}
PACKAGES = {"basic": "基础服务包（免费）", "custom": "定制服务包"}
PACKAGE_MONTHS = (1, 3, 6, 12)
ENROLMENT_STATES = {"active": "管理中", "closed": "已结案"}
TASK_TYPES = {
    "phone_followup": "电话随访",
    "education": "健康宣教推送",
    "revisit_reminder": "复诊提醒",
    "questionnaire": "问卷调查",
    "nutrition_screening": "营养筛查",
    "accompany_admission": "陪同入院",
    "accompany_discharge": "陪同出院",
    "medication_reminder": "用药提醒",
    "other": "其他服务",
}
ANCHORS = {"enrolment": "入组", "admission": "入院", "surgery": "手术", "discharge": "出院"}
TIME_SLOTS = {"morning": "上午", "afternoon": "下午", "evening": "晚间", "any": "全天"}
SPECIAL_NEEDS = {"wheelchair": "轮椅", "interpreter": "翻译", "fasting": "禁食", "isolation": "隔离",
                 "stretcher": "平车", "oxygen": "吸氧"}
PLAN_SOURCES = {"form": "页面填报", "excel": "Excel 导入", "api": "HIS 接口"}
TASK_SOURCES = {"plan": "次日计划", "pathway": "管理路径", "adhoc": "临时服务"}
TASK_STATES = {"open": "待完成", "done": "已完成", "declined": "患者拒绝", "unreached": "多次未联系上",
               "cancelled": "已取消"}
# Closed by an outcome: done (reached), declined, or not reached too many times (flagged to the supervisor).
CLOSED_STATES = ("done", "declined", "unreached")
OUTCOMES = {"reached": "已完成（联系上）", "not_reached": "未联系上", "rescheduled": "改期", "declined": "患者拒绝"}
EVENT_KINDS = {"adverse_event": "不良事件", "complaint": "投诉"}
SEVERITIES = {"mild": "轻度", "moderate": "中度", "severe": "重度", "critical": "严重"}
EVENT_STATES = {"open": "待处理", "handling": "处理中", "closed": "已关闭"}


class Patient(Model):
    """A patient, identified by the real-name triple (name, ID type, ID number)."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("id_type", "id_number_hash", "name", name="uq_patients_identity"),
        # Case managers see the patients they registered (queries.visible_patient_ids): found by author.
        Index("ix_patients_created_by_id", "created_by_id"),
    )

    name: Mapped[str] = mapped_column(String(50), index=True)
    id_type: Mapped[str] = mapped_column(String(16), default="resident")
    # Encrypted at rest (portal.core.crypto); the keyed hash finds a patient by number.
    id_number_enc: Mapped[str] = mapped_column(String(255))
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(40), default="")  # what screens show
    phone_enc: Mapped[str | None] = mapped_column(String(255))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str] = mapped_column(String(24), default="")
    hospital_no: Mapped[str | None] = mapped_column(String(32), unique=True)  # 住院号 / 病案号
    gender: Mapped[str] = mapped_column(String(1), default="U")
    birth_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")

    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="patient", order_by="Enrolment.id.desc()")

    @property
    def masked_name(self) -> str:
        return masking.mask_name(self.name)

    @property
    def id_type_label(self) -> str:
        return ID_TYPES.get(self.id_type, self.id_type)

    @property
    def gender_label(self) -> str:
        return GENDERS.get(self.gender, "")

    @property
    def active_enrolment(self) -> Enrolment | None:
        return next((e for e in self.enrolments if e.status == "active"), None)


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


class Enrolment(Model):
    """A patient under management (入组): disease, package, ward, case manager and key dates."""

    __tablename__ = "enrolments"
    __table_args__ = (
        # At most one active enrolment per patient.
        Index("uq_enrolments_active_patient", "patient_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    icd10_code: Mapped[str] = mapped_column(String(16), index=True)
    disease_name: Mapped[str] = mapped_column(String(100))
    tnm_stage: Mapped[str] = mapped_column(String(32), default="")
    package: Mapped[str] = mapped_column(String(16), default="basic")
    package_months: Mapped[int | None] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    bed: Mapped[str] = mapped_column(String(16), default="")
    case_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    pathway_version_id: Mapped[int | None] = mapped_column(ForeignKey("pathway_versions.id", ondelete="RESTRICT"))
    admission_date: Mapped[date | None] = mapped_column(Date)
    surgery_date: Mapped[date | None] = mapped_column(Date)
    discharge_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str] = mapped_column(String(200), default="")

    patient: Mapped[Patient] = relationship(back_populates="enrolments")
    ward: Mapped[Department | None] = relationship(lazy="joined")
    case_manager: Mapped[User | None] = relationship(foreign_keys=[case_manager_id])
    pathway_version: Mapped[PathwayVersion | None] = relationship()

    @property
    def package_label(self) -> str:
        label = PACKAGES.get(self.package, self.package)
        return f"{label}（{self.package_months} 个月）" if self.package == "custom" and self.package_months else label

    @property
    def status_label(self) -> str:
        return ENROLMENT_STATES.get(self.status, self.status)

    def anchor_date(self, anchor: str) -> date | None:
        return {"enrolment": self.start_date, "admission": self.admission_date, "surgery": self.surgery_date,
                "discharge": self.discharge_date}.get(anchor)


class WardCoverage(Model):
    """Which case managers cover a ward: plan items for patients without a case manager go there."""

    __tablename__ = "ward_coverage"
    __table_args__ = (UniqueConstraint("ward_id", "case_manager_id"),)

    ward_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), index=True)
    case_manager_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)

    ward: Mapped[Department] = relationship(lazy="joined")
    case_manager: Mapped[User] = relationship(foreign_keys=[case_manager_id])


class Plan(Model):
    """The next-day plan (次日服务计划) for one service date."""

    __tablename__ = "plans"

    plan_date: Mapped[date] = mapped_column(Date, unique=True)
    first_submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)  # something arrived after the cutoff
    revision: Mapped[int] = mapped_column(Integer, default=1)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the task lists were built

    items: Mapped[list[PlanItem]] = relationship(back_populates="plan", order_by="PlanItem.id")


class TaskListBuild(Model):
    """When the task lists of a day were last built: a plan that arrives later still reaches the lists."""

    __tablename__ = "task_list_builds"

    day: Mapped[date] = mapped_column(Date, unique=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime)
    builds: Mapped[int] = mapped_column(Integer, default=1)
    last_result: Mapped[dict] = mapped_column(JSON, default=dict)


class PlanItem(Model):
    __tablename__ = "plan_items"
    __table_args__ = (UniqueConstraint("plan_id", "external_id"),)

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    # The issuer's own item id (HIS item id, or generated for form entries): resubmitting it revises it.
    external_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    # As submitted: the hospital number or ID number and name, kept to resolve unknown patients later.
    patient_ref: Mapped[str] = mapped_column(String(64), default="")
    patient_ref_hash: Mapped[str | None] = mapped_column(String(64))
    patient_name: Mapped[str] = mapped_column(String(50), default="")
    task_type: Mapped[str] = mapped_column(String(32))
    service_item: Mapped[str] = mapped_column(String(100), default="")
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    bed: Mapped[str] = mapped_column(String(16), default="")
    time_slot: Mapped[str] = mapped_column(String(16), default="any")
    special_needs: Mapped[list] = mapped_column(JSON, default=list)  # codes from SPECIAL_NEEDS
    special_note: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(16), default="form")
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)
    is_cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    plan: Mapped[Plan] = relationship(back_populates="items")
    patient: Mapped[Patient | None] = relationship()
    ward: Mapped[Department | None] = relationship(lazy="joined")

    @property
    def task_type_label(self) -> str:
        return TASK_TYPES.get(self.task_type, self.task_type)

    @property
    def special_need_labels(self) -> list[str]:
        return [SPECIAL_NEEDS.get(code, code) for code in self.special_needs or []]


class CareTask(Model):
    """One item on a case manager's daily task list."""

    __tablename__ = "care_tasks"
    __table_args__ = (
        # A pathway step occurs once per enrolment and occurrence; a plan item makes one task.
        UniqueConstraint("enrolment_id", "pathway_step_id", "occurrence", name="uq_care_tasks_step_occurrence"),
        UniqueConstraint("plan_item_id"),
        Index("ix_care_tasks_manager_day", "case_manager_id", "status", "due_date"),
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


class HandoverNote(Model):
    """A note on a patient, optionally handed over to another case manager."""

    __tablename__ = "handover_notes"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)

    author: Mapped[User | None] = relationship(foreign_keys="HandoverNote.created_by_id")
    to_user: Mapped[User | None] = relationship(foreign_keys=[to_user_id])


class LedgerEntry(Model):
    """The service ledger (服务台账): every completed task and ad-hoc service."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_month", "service_date", "case_manager_id"),)

    service_date: Mapped[date] = mapped_column(Date)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="RESTRICT"))
    case_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id", ondelete="RESTRICT"), unique=True)
    task_type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    icd10_code: Mapped[str] = mapped_column(String(16), default="")
    disease_name: Mapped[str] = mapped_column(String(100), default="")
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    note: Mapped[str] = mapped_column(String(500), default="")

    patient: Mapped[Patient] = relationship(lazy="joined")
    case_manager: Mapped[User | None] = relationship(foreign_keys=[case_manager_id])
    ward: Mapped[Department | None] = relationship(lazy="joined")

    @property
    def task_type_label(self) -> str:
        return TASK_TYPES.get(self.task_type, self.task_type)

    @property
    def outcome_label(self) -> str:
        return OUTCOMES.get(self.outcome, self.outcome)


class SatisfactionSurvey(Model):
    """Timeliness, effectiveness and attitude, 1-5, for one service or one patient-month."""

    __tablename__ = "satisfaction_surveys"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id", ondelete="SET NULL"), unique=True)
    survey_month: Mapped[date] = mapped_column(Date, index=True)  # the first day of the month
    timeliness: Mapped[int] = mapped_column(Integer)
    effectiveness: Mapped[int] = mapped_column(Integer)
    attitude: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(500), default="")

    patient: Mapped[Patient] = relationship(lazy="joined")

    @property
    def mean(self) -> float:
        return (self.timeliness + self.effectiveness + self.attitude) / 3

    @property
    def is_satisfied(self) -> bool:
        return self.mean >= 4


class AdverseEvent(Model):
    """An adverse event or complaint: severity, handling and closure."""

    __tablename__ = "adverse_events"

    kind: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    occurred_on: Mapped[date] = mapped_column(Date, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    handling: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    patient: Mapped[Patient | None] = relationship(lazy="joined")
    case_manager: Mapped[User | None] = relationship(foreign_keys=[case_manager_id])

    @property
    def kind_label(self) -> str:
        return EVENT_KINDS.get(self.kind, self.kind)

    @property
    def severity_label(self) -> str:
        return SEVERITIES.get(self.severity, self.severity)

    @property
    def status_label(self) -> str:
        return EVENT_STATES.get(self.status, self.status)


class MonthlyAssessment(Model):
    """The hospital's monthly assessment of the service and the resulting settlement."""

    __tablename__ = "monthly_assessments"

    month: Mapped[date] = mapped_column(Date, unique=True)  # the first day of the month
    proposed_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    score: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    coefficient: Mapped[Decimal] = mapped_column(Numeric(3, 2))
    payable: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    fee: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    note: Mapped[str] = mapped_column(String(500), default="")
