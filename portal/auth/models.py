"""Departments, staff, users, roles and the login log."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    true,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

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
    # A clinical department takes part in the clinical programmes (study records); administrative and support
    # departments (医务科, 财务科 ...) do not.
    clinical: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

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
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped whenever roles, grants or the department tree change: the cached principal is rebuilt.
    access_version: Mapped[int] = mapped_column(Integer, default=1)

    staff: Mapped[Staff | None] = relationship(back_populates="user", lazy="joined", foreign_keys=[staff_id])
    # Loaded only when used: each request reads the user row, but roles come from the cached principal.
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, back_populates="users")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_flag

    # The server-side session this request runs in (set by the session loader / at sign-in; not a column).
    session_key = None

    def get_id(self) -> str:
        # What Flask-Login keeps in the signed cookie: the user and the key of their server-side session.
        return f"{self.id}:{self.session_key}"

    @property
    def display_name(self) -> str:
        return self.staff.name if self.staff else self.login_name

    @property
    def department(self) -> Department | None:
        return self.staff.department if self.staff else None

    def is_locked(self, now: datetime | None = None) -> bool:
        """Password sign-in is locked for this account from at least one address."""
        return self.locked_until is not None and self.locked_until > (now or utcnow())

    @property
    def principal(self):
        # Asked for by every permission check of a page: kept on this object for its access version.
        memo = self.__dict__.get("_principal")
        version = self.access_version
        if memo is not None and memo[0] == version:
            return memo[1]
        from .principal import principal_for

        principal = principal_for(self)
        self._principal = (version, principal)
        return principal


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
    "sso_success": "HIS 签名链接登录成功",
    "sso_failure": "HIS 签名链接被拒绝",
    "session_expired": "会话到期",
    "password_failure": "修改密码时当前密码错误",
    "address_alert": "同一地址多次登录失败",
}


class LoginEvent(Base, IdMixin):
    """Append-only: kept at least six years, never edited."""

    __tablename__ = "login_events"
    # Failures from one address across accounts are counted by (ip, created_at).
    __table_args__ = (Index("ix_login_events_ip_created_at", "ip", "created_at"),)

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


SESSION_END_REASONS = {
    "logout": "退出登录",
    "timeout": "超时",
    "expired": "超过最长时长",
    "password": "密码已修改或重置",
    "deactivated": "账户停用",
    "locked": "密码错误次数过多",
}


class UserSession(Base, IdMixin):
    """One signed-in browser: the cookie carries its key, and the server can end it (logout, password change)."""

    __tablename__ = "user_sessions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the key in the cookie: a copy of this table cannot be turned into a session.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Refreshed at most every few minutes, by requests that write anyway (reads stay read-only).
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str] = mapped_column(String(16), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")


class LoginThrottle(Base, IdMixin):
    """Password failures of one login name from one address: the lock applies to that pair only."""

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("login_name", "ip"),)

    login_name: Mapped[str] = mapped_column(String(64))  # lower case; also names that do not exist
    ip: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# The latest lock of the account from any address (None: never locked). Deferred: only the user pages read it.
User.locked_until = column_property(
    select(func.max(LoginThrottle.locked_until))
    .where(LoginThrottle.login_name == func.lower(User.login_name))
    .correlate_except(LoginThrottle)
    .scalar_subquery(),
    deferred=True,
)
