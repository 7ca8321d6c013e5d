"""Departments, staff, users, roles and the login log."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.models import Base, IdMixin, Model, UTCDateTime
from portal.core.timeutil import utcnow

DEPARTMENT_KINDS = {"hospital": "医院", "division": "院区/片区", "department": "科室", "ward": "病区"}
DATA_SCOPES = {"own": "本科室", "division": "本片区", "all": "全院"}


class Department(Model):
    __tablename__ = "departments"

    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    # Materialised path "/1/4/9/": descendants are a prefix match, no recursive query.
    path: Mapped[str] = mapped_column(String(255), index=True, default="/")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Department | None] = relationship(remote_side="Department.id", back_populates="children")
    children: Mapped[list[Department]] = relationship(back_populates="parent", order_by="Department.sort_order")

    @property
    def kind_label(self) -> str:
        return DEPARTMENT_KINDS.get(self.kind, self.kind)

    @property
    def depth(self) -> int:
        return self.path.strip("/").count("/")


class Staff(Model):
    __tablename__ = "staff"

    employee_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(50), index=True)
    title: Mapped[str] = mapped_column(String(50), default="")  # 职称
    position: Mapped[str] = mapped_column(String(50), default="")  # 职务
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(back_populates="staff", uselist=False, foreign_keys="User.staff_id")


user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Role(Model):
    __tablename__ = "roles"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    data_scope: Mapped[str] = mapped_column(String(16), default="own")
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)

    grants: Mapped[list[RolePermission]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    users: Mapped[list[User]] = relationship(secondary=user_roles, back_populates="roles")

    @property
    def permission_codes(self) -> set[str]:
        return {g.permission for g in self.grants}

    @property
    def data_scope_label(self) -> str:
        return DATA_SCOPES.get(self.data_scope, self.data_scope)


class RolePermission(Base, IdMixin):
    __tablename__ = "role_permissions"
    __table_args__ = (UniqueConstraint("role_id", "permission"),)

    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(64))


class User(Model, UserMixin):
    __tablename__ = "users"

    login_name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), unique=True)
    wecom_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    is_active_flag: Mapped[bool] = mapped_column("is_active", Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Rotated on password change, reset and deactivation: every older session stops working.
    session_token: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))
    # Bumped whenever roles, grants or the department tree change: the cached principal is rebuilt.
    access_version: Mapped[int] = mapped_column(Integer, default=1)

    staff: Mapped[Staff | None] = relationship(back_populates="user", lazy="joined", foreign_keys=[staff_id])
    # Loaded only when used: each request reads the user row, but roles come from the cached principal.
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, back_populates="users")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_flag

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def display_name(self) -> str:
        return self.staff.name if self.staff else self.login_name

    @property
    def department(self) -> Department | None:
        return self.staff.department if self.staff else None

    def is_locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or utcnow())

    @property
    def principal(self):
        from .principal import principal_for

        return principal_for(self)


class PasswordHistory(Base, IdMixin):
    __tablename__ = "password_history"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


LOGIN_EVENTS = {
    "success": "登录成功",
    "failure": "登录失败",
    "locked": "账户锁定",
    "refused_locked": "锁定期间尝试登录",
    "refused_inactive": "停用账户尝试登录",
    "logout": "退出登录",
    "timeout": "会话超时",
    "password_changed": "修改密码",
    "wecom_success": "企业微信登录成功",
    "wecom_failure": "企业微信登录失败",
}


class LoginEvent(Base, IdMixin):
    """Append-only: kept at least six years, never edited."""

    __tablename__ = "login_events"

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    login_name: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[str] = mapped_column(Text, default="")

    @property
    def event_label(self) -> str:
        return LOGIN_EVENTS.get(self.event, self.event)
