"""Privileges (授权): what a member of staff may order (开单权) and perform (执行权), by grade or by technology,
for a period; the admission rules an application must meet; interception alerts; emergency overrides; and the
generation counter that tells every worker's check cache that something it depends on has changed.

A granted record is never changed: an adjustment (suspend, restore, revoke, narrow, extend, upgrade,
downgrade, renew) is a new record that supersedes the old one (``supersedes_id``) once approved; the old one
keeps counting for the days before the new one starts (``ended_on``), so a question about a past day (a late
surgery import, the check API with a date) is answered by what held that day. Whether a record counts on a day
follows from its status and dates alone (``counts_on``, ``counts_condition``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Staff
from portal.catalogue.models.technologies import CATEGORIES as TECH_CATEGORIES
from portal.catalogue.models.technologies import Technology
from portal.core.models import Base, Model, UTCDateTime

KINDS = {"grade": "分级授权", "technology": "单项技术授权"}
GRADES = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
RIGHTS = {"order": "开单权", "perform": "执行权"}
STATES = {"pending": "审批中", "returned": "退回修改", "rejected": "已驳回", "withdrawn": "已撤回",
          "active": "有效", "expiring": "即将到期", "expired": "已过期", "suspended": "已暂停",
          "revoked": "已撤销", "superseded": "已调整"}
STATE_BADGE = {"pending": "wait", "returned": "warn", "rejected": "bad", "withdrawn": "off", "active": "ok",
               "expiring": "warn", "expired": "bad", "suspended": "warn", "revoked": "bad", "superseded": "off"}
APPLICATION_STATES = ("pending", "returned", "rejected", "withdrawn")
GRANTED_STATES = ("active", "expired", "suspended", "revoked", "superseded")
LIST_STATES = {k: STATES[k] for k in ("active", "expiring", "expired", "suspended", "revoked", "superseded",
                                      "pending", "returned")}
ACTIONS = {"apply": "新申请", "renew": "再授权", "suspend": "暂停", "restore": "恢复", "revoke": "撤销",
           "narrow": "缩小范围", "extend": "延长期限", "upgrade": "升级", "downgrade": "降级"}
EXPIRING_DAYS = 90  # the renewal list's horizon
REMINDER_DAYS = (90, 30, 7)


class Privilege(Model):
    __tablename__ = "privileges"
    __table_args__ = (Index("ix_privileges_staff_id_status", "staff_id", "status"),
                      Index("ix_privileges_status_valid_to", "status", "valid_to"),
                      Index("ix_privileges_updated_at_id", "updated_at", "id"),
                      # the privilege list's order (nearest end first): its first page reads 20 index entries
                      Index("ix_privileges_valid_to_id", "valid_to", "id"))

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))  # grade | technology
    grade: Mapped[int | None] = mapped_column(SmallInteger)
    categories: Mapped[str] = mapped_column(String(120), default="")  # catalogue categories, comma-separated
    technology_id: Mapped[int | None] = mapped_column(ForeignKey("technologies.id", ondelete="RESTRICT"),
                                                      index=True)
    can_order: Mapped[bool] = mapped_column(Boolean, default=True)
    can_perform: Mapped[bool] = mapped_column(Boolean, default=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Superseded: the first day the record that replaced it counts; it counted on the days before.
    ended_on: Mapped[date | None] = mapped_column(Date)
    action: Mapped[str] = mapped_column(String(16), default="apply")
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16), default="application")  # application / department / manual
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("privileges.id", ondelete="SET NULL"), index=True)
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_instances.id", ondelete="SET NULL"))
    reminded_days: Mapped[int | None] = mapped_column(Integer)
    reminded_on: Mapped[date | None] = mapped_column(Date)

    staff: Mapped[Staff] = relationship(lazy="joined")
    technology: Mapped[Technology | None] = relationship(lazy="joined")

    @property
    def category_set(self) -> frozenset[str]:
        return frozenset(c for c in self.categories.split(",") if c)

    @property
    def scope_label(self) -> str:
        if self.kind == "technology" and self.technology is not None:
            return f"{self.technology.name}（{self.technology.code}）"
        cats = "、".join(TECH_CATEGORIES.get(c, c) for c in sorted(self.category_set)) or "全部类别"
        return f"{GRADES.get(self.grade or 0, '')}及以下（{cats}）"

    @property
    def rights_label(self) -> str:
        return "、".join(label for key, label in RIGHTS.items()
                        if (self.can_order if key == "order" else self.can_perform)) or "无"

    @property
    def action_label(self) -> str:
        return ACTIONS.get(self.action, self.action)

    def counts_on(self, day: date) -> bool:
        return counts(self.status, self.ended_on, self.valid_from, self.valid_to, day)

    def state_on(self, day: date) -> str:
        if self.status not in ("active", "expired"):
            return self.status
        if self.valid_to < day:
            return "expired"
        if self.valid_from > day:
            return "active"
        if self.valid_to <= day + timedelta(days=30):
            return "expiring"
        return "active"

    def state_label(self, day: date) -> str:
        return STATES[self.state_on(day)]

    def badge_state(self, day: date) -> str:
        return STATE_BADGE[self.state_on(day)]


def privilege_state_condition(state: str, day: date):
    held = Privilege.status.in_(("active", "expired"))
    if state == "expired":
        return and_(held, Privilege.valid_to < day)
    if state == "expiring":
        return and_(held, Privilege.valid_to >= day, Privilege.valid_to <= day + timedelta(days=30))
    if state == "active":
        return and_(held, Privilege.valid_to > day + timedelta(days=30))
    return Privilege.status == state


HELD = ("active", "expired")


def counts(status: str, ended_on: date | None, valid_from: date, valid_to: date, day: date) -> bool:
    """Whether a record counts on `day`: granted and within its dates; a superseded one before its ``ended_on``."""
    if not valid_from <= day <= valid_to:
        return False
    return status in HELD or (status == "superseded" and ended_on is not None and day < ended_on)


def counts_condition(day, privilege=None):
    """The SQL form of `counts`: `day` a date or a date column, `privilege` the table or an alias."""
    p = Privilege if privilege is None else privilege
    return and_(or_(p.status.in_(HELD), and_(p.status == "superseded", p.ended_on > day)),
                p.valid_from <= day, p.valid_to >= day)


TITLE_LEVELS = {"初级": 1, "中级": 2, "副高级": 3, "正高级": 4}


class PrivilegeRule(Model):
    """An admission rule (准入条件) for a grade (and optionally one catalogue category)."""

    __tablename__ = "privilege_rules"

    grade: Mapped[int] = mapped_column(SmallInteger)
    category: Mapped[str] = mapped_column(String(16), default="")  # "" = every category
    min_title: Mapped[str] = mapped_column(String(8), default="")  # 初级 / 中级 / 副高级 / 正高级
    min_years: Mapped[int] = mapped_column(Integer, default=0)  # years in the current title
    trainings: Mapped[str] = mapped_column(String(200), default="")  # qualification type codes, comma-separated
    certificates: Mapped[str] = mapped_column(String(200), default="")  # qualification type codes
    combine: Mapped[str] = mapped_column(String(4), default="and")  # and | or
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(String(500), default="")

    @property
    def training_codes(self) -> list[str]:
        return [c for c in self.trainings.split(",") if c]

    @property
    def certificate_codes(self) -> list[str]:
        return [c for c in self.certificates.split(",") if c]


class PrivilegeAlert(Model):
    """A denied check (超权限拦截): at most one per staff member, technology and day (the unique key)."""

    __tablename__ = "privilege_alerts"
    __table_args__ = (UniqueConstraint("staff_id", "technology_id", "day"), Index("ix_privilege_alerts_day", "day"))

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    technology_id: Mapped[int] = mapped_column(ForeignKey("technologies.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    right: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(40))  # as HIS sent it
    reason: Mapped[str] = mapped_column(String(300))
    notified: Mapped[bool] = mapped_column(Boolean, default=False)

    staff: Mapped[Staff] = relationship(lazy="joined")
    technology: Mapped[Technology] = relationship(lazy="joined")


class PrivilegeOverride(Model):
    """HIS reports an emergency performed beyond privilege; the department head confirms within 24 hours."""

    __tablename__ = "privilege_overrides"
    __table_args__ = (Index("ix_privilege_overrides_status_due_at", "status", "due_at"),)

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"), index=True)
    technology_id: Mapped[int] = mapped_column(ForeignKey("technologies.id", ondelete="RESTRICT"))
    external_id: Mapped[str] = mapped_column(String(64), default="")  # HIS's record id (idempotency)
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    patient: Mapped[str] = mapped_column(String(64), default="")  # 住院号 as HIS sends it
    reason: Mapped[str] = mapped_column(String(1000), default="")
    client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id", ondelete="SET NULL"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | confirmed
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str] = mapped_column(String(1000), default="")

    staff: Mapped[Staff] = relationship(lazy="joined")
    technology: Mapped[Technology] = relationship(lazy="joined")


class PrivilegeGeneration(Base):
    """One row: set to a new, never repeated value by database triggers on every write to a table the check
    depends on, in the writing transaction; each check compares it with the value its cache was built from."""

    __tablename__ = "privilege_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


# The tables whose changes invalidate the check cache (the migration puts a trigger on each).
WATCHED_TABLES = ("privileges", "qualifications", "qualification_types", "technologies", "technology_departments",
                  "staff", "departments")


def _register_labels() -> None:
    from portal.core import labels

    labels.register_values("privilege", "status", STATES)
    labels.register_values("privilege", "kind", KINDS)
    labels.register_values("privilege", "action", ACTIONS)
    labels.register_fields("privilege", {
        "staff_id": "人员", "kind": "授权方式", "grade": "手术级别", "categories": "类别", "technology_id": "技术",
        "can_order": "开单权", "can_perform": "执行权", "valid_from": "授权起", "valid_to": "授权至",
        "status": "状态", "action": "事项", "reason": "理由", "supersedes_id": "调整自"})
    labels.register_fields("privilege_rule", {
        "grade": "手术级别", "category": "类别", "min_title": "最低职称", "min_years": "任现职年限",
        "trainings": "培训", "certificates": "证书", "combine": "组合方式", "is_active": "启用", "note": "说明"})
    labels.register_fields("privilege_override", {"status": "状态", "comment": "确认意见", "reason": "紧急情况说明"})


_register_labels()
