"""Qualification types (configurable by medical affairs) and the qualifications each member of staff holds.

A record is never overwritten: a renewal or a new level is a new record that supersedes the old one
(`supersedes_id`), suspension and revocation end a record (`ended_on`) and every change is audited.
Whether a record counts on a given day follows from its dates alone (`counts_on`), so the answer is right
between two runs of the daily expiry job; the job only flips the stored state for lists and reminders.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, and_, or_
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Staff
from portal.core.models import Model

CATEGORIES = {"license": "执业资格", "title": "职称与岗位", "prescription": "处方权", "radiation": "放射诊疗",
              "practice": "执业权限", "other": "其他"}
DEFAULT_REMINDER_DAYS = (90, 30, 7)
EXPIRING_DAYS = 30  # a valid record whose end is this close is shown as 即将到期

# Stored states. "expiring" is never stored: it is a valid record near its end (see `state_on`).
STATES = {"pending": "审批中", "returned": "退回修改", "rejected": "已驳回", "withdrawn": "已撤回",
          "active": "有效", "expiring": "即将到期", "expired": "已过期", "suspended": "已暂停",
          "revoked": "已撤销", "superseded": "已更新"}
STATE_BADGE = {"pending": "wait", "returned": "warn", "rejected": "bad", "withdrawn": "off", "active": "ok",
               "expiring": "warn", "expired": "bad", "suspended": "warn", "revoked": "bad", "superseded": "off"}
APPLICATION_STATES = ("pending", "returned", "rejected", "withdrawn")
HELD_STATES = ("active", "expired")  # granted records; which of them count on a day follows from the dates
LIST_STATES = {k: STATES[k] for k in ("active", "expiring", "expired", "suspended", "revoked", "superseded",
                                      "pending", "returned")}
SOURCES = {"application": "本人申请", "import": "批量导入", "manual": "医务科登记"}


class QualificationType(Model):
    __tablename__ = "qualification_types"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    category: Mapped[str] = mapped_column(String(16), default="other")
    expires: Mapped[bool] = mapped_column(Boolean, default=True)
    reminder_days: Mapped[str] = mapped_column(String(64), default="90,30,7")  # days before the end, comma-separated
    requires_attachment: Mapped[bool] = mapped_column(Boolean, default=True)
    levels: Mapped[str] = mapped_column(Text, default="")  # one level per line (抗菌药物: 非限制使用级 ...)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def level_list(self) -> list[str]:
        return [line.strip() for line in self.levels.splitlines() if line.strip()]

    @property
    def reminder_list(self) -> list[int]:
        return sorted({int(part) for part in self.reminder_days.split(",") if part.strip().isdigit()}, reverse=True)

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category)


class Qualification(Model):
    __tablename__ = "qualifications"
    # Each filter of the lists and the validity answer has its index; the default list reads in (valid_to, id).
    __table_args__ = (Index("ix_qualifications_staff_id_status", "staff_id", "status"),
                      Index("ix_qualifications_status_valid_to", "status", "valid_to"),
                      Index("ix_qualifications_valid_to_id", "valid_to", "id"))

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id", ondelete="RESTRICT"), index=True)
    level: Mapped[str] = mapped_column(String(32), default="")
    number: Mapped[str] = mapped_column(String(64), default="", index=True)
    issuer: Mapped[str] = mapped_column(String(100), default="")
    issued_on: Mapped[date | None] = mapped_column(Date)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(200), default="")  # 执业范围 / 岗位 / 说明
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    source: Mapped[str] = mapped_column(String(16), default="application")
    ended_on: Mapped[date | None] = mapped_column(Date)  # suspended, revoked or superseded from this day
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("qualifications.id", ondelete="SET NULL"))
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))
    # Reminders: the smallest reminder day already announced, and the day of the last one (once a day at most).
    reminded_days: Mapped[int | None] = mapped_column(Integer)
    reminded_on: Mapped[date | None] = mapped_column(Date)

    staff: Mapped[Staff] = relationship(lazy="joined")
    type: Mapped[QualificationType] = relationship(lazy="joined")

    def state_on(self, day: date) -> str:
        """The state a person reads on `day`: granted records are valid, expiring or expired by their dates."""
        if self.status not in HELD_STATES:
            return self.status
        if self.valid_to is not None and self.valid_to < day:
            return "expired"
        if self.valid_to is not None and self.valid_to <= day + timedelta(days=EXPIRING_DAYS):
            return "expiring"
        return "active"

    def counts_on(self, day: date) -> bool:
        return (self.status in HELD_STATES and (self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or self.valid_to >= day))

    def state_label(self, day: date) -> str:
        return STATES[self.state_on(day)]

    def badge_state(self, day: date) -> str:
        return STATE_BADGE[self.state_on(day)]

    @property
    def display_name(self) -> str:
        return f"{self.type.name}（{self.level}）" if self.level else self.type.name

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.source, self.source)


def valid_on(day: date):
    """The SQL condition of `Qualification.counts_on(day)`: one rule for lists, the job and the privilege check."""
    return and_(Qualification.status.in_(HELD_STATES),
                or_(Qualification.valid_from.is_(None), Qualification.valid_from <= day),
                or_(Qualification.valid_to.is_(None), Qualification.valid_to >= day))


def state_condition(state: str, day: date):
    """The SQL condition of `state_on(day) == state`."""
    held = Qualification.status.in_(HELD_STATES)
    soon = day + timedelta(days=EXPIRING_DAYS)
    if state == "expired":
        return and_(held, Qualification.valid_to < day)
    if state == "expiring":
        return and_(held, Qualification.valid_to >= day, Qualification.valid_to <= soon)
    if state == "active":
        return and_(held, or_(Qualification.valid_to.is_(None), Qualification.valid_to > soon))
    return Qualification.status == state


def _register_labels() -> None:
    from portal.core import labels

    labels.register_values("qualification", "status", STATES)
    labels.register_values("qualification", "source", SOURCES)
    labels.register_fields("qualification", {
        "type_id": "资质类型", "level": "级别", "number": "证书编号", "issuer": "发证机关", "issued_on": "发证日期",
        "valid_from": "有效期起", "valid_to": "有效期至", "scope": "范围", "note": "备注", "status": "状态",
        "ended_on": "终止日期", "staff_id": "人员"})
    labels.register_values("qualification_type", "category", CATEGORIES)
    labels.register_fields("qualification_type", {
        "code": "代码", "name": "名称", "category": "类别", "expires": "有有效期", "reminder_days": "提醒天数",
        "requires_attachment": "需上传附件", "levels": "级别", "is_active": "启用", "sort_order": "排序"})


_register_labels()
