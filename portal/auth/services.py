"""Accounts and roles: sign-in, passwords, lockout, user and role administration."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from portal.core import audit
from portal.core.permissions import REGISTRY
from portal.core.service import ServiceError, clean, keep_when_refused
from portal.core.timeutil import format_datetime, utcnow
from portal.extensions import db

from .models import (
    DATA_SCOPES,
    LoginEvent,
    LoginThrottle,
    PasswordHistory,
    Role,
    RolePermission,
    Staff,
    User,
    UserSession,
)
from .passwords import hash_password, policy_errors, reused, verify_password

USER_FIELDS = ("login_name", "staff_id", "wecom_userid", "is_active_flag", "role_codes")
ROLE_FIELDS = ("code", "name", "description", "data_scope", "permissions")
BAD_CREDENTIALS = "登录名或密码错误。"
# Events that count as a failed password from an address.
FAILURE_EVENTS = ("failure", "locked", "password_failure")


def log_login_event(event: str, login_name: str, user: User | None = None, ip: str = "", user_agent: str = "",
                    detail: str = "") -> None:
    db.session.add(LoginEvent(user_id=user.id if user else None, login_name=login_name[:64], event=event,
                              ip=ip[:64], user_agent=user_agent[:255], detail=detail))


def session_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def open_session(user: User, *, ip: str, user_agent: str) -> str:
    """A new server-side session for the user; its key goes into the cookie (user.session_key)."""
    key = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, key_hash=session_key_hash(key), ip=ip[:64],
                               user_agent=user_agent[:255]))
    db.session.flush()
    user.session_key = key
    return key


def end_session(user_session: UserSession, reason: str) -> None:
    if user_session.ended_at is None:
        user_session.ended_at = utcnow()
        user_session.end_reason = reason


def end_all_sessions(user_id: int, reason: str) -> int:
    """End every open session of the user (password change or reset, deactivation): all devices sign in again."""
    result = db.session.execute(
        update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason).execution_options(synchronize_session="fetch"))
    return result.rowcount


class AccountLocked(ServiceError):
    """Too many wrong passwords for this login name from this address."""


@dataclass(frozen=True)
class Lockout:
    max_failures: int
    lock_minutes: int
    alert_failures: int = 20
    alert_minutes: int = 15

    @classmethod
    def from_config(cls, config) -> Lockout:
        return cls(config["LOGIN_MAX_FAILURES"], config["LOGIN_LOCK_MINUTES"], config["LOGIN_ALERT_FAILURES"],
                   config["LOGIN_ALERT_MINUTES"])


_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    """A hash to verify unknown login names against, so they cost what a real account costs."""
    method = current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else "default"
    cached = _DUMMY_HASHES.get(method)
    if cached is None or not cached.startswith(f"{method}$"):  # same algorithm and work factor as real hashes
        cached = _DUMMY_HASHES[method] = hash_password(secrets.token_urlsafe(16))
    return cached


def _locked_message(until) -> str:
    return f"密码错误次数过多，已暂停登录，请于 {format_datetime(until, '%H:%M')} 后再试，或联系系统管理员解锁。"


def _throttle(login_key: str, ip: str) -> LoginThrottle | None:
    return db.session.scalar(select(LoginThrottle).where(LoginThrottle.login_name == login_key,
                                                         LoginThrottle.ip == ip[:64]))


def _count_failure(login_key: str, ip: str, now, rules: Lockout) -> tuple[LoginThrottle, bool]:
    """One more failure for (login name, address); locks the pair at the limit. Failures older than a lock fade."""
    row = _throttle(login_key, ip)
    if row is None:
        try:
            with db.session.begin_nested():
                row = LoginThrottle(login_name=login_key, ip=ip[:64], failures=0, updated_at=now)
                db.session.add(row)
        except IntegrityError:  # a parallel request from the same address created it first
            row = _throttle(login_key, ip)
    elif row.updated_at < now - timedelta(minutes=rules.lock_minutes):
        row.failures = 0
    row.failures += 1
    row.updated_at = now
    just_locked = row.failures >= rules.max_failures
    if just_locked:
        row.failures = 0
        row.locked_until = now + timedelta(minutes=rules.lock_minutes)
    db.session.flush()
    return row, just_locked


def _watch_address(ip: str, user_agent: str, now, rules: Lockout) -> None:
    """Many failures from one address across accounts: tell the system administrators, once per window."""
    since = now - timedelta(minutes=rules.alert_minutes)
    recent = (LoginEvent.ip == ip[:64]) & (LoginEvent.created_at >= since)
    failures, accounts = db.session.execute(
        select(func.count(), func.count(func.distinct(func.lower(LoginEvent.login_name))))
        .where(recent, LoginEvent.event.in_(FAILURE_EVENTS))).one()
    if failures < rules.alert_failures or accounts < 2:
        return
    if db.session.scalar(select(LoginEvent.id).where(recent, LoginEvent.event == "address_alert").limit(1)):
        return
    names = db.session.scalars(select(LoginEvent.login_name).where(recent, LoginEvent.event.in_(FAILURE_EVENTS))
                               .group_by(LoginEvent.login_name).order_by(func.count().desc()).limit(5))
    detail = (f"{rules.alert_minutes} 分钟内登录失败 {failures} 次，涉及 {accounts} 个登录名"
              f"（如 {'、'.join(names)}）")
    log_login_event("address_alert", "(多个账户)", None, ip, user_agent, detail)
    from portal.notify.services import notify

    from .queries import active_user_ids_with_roles

    notify(active_user_ids_with_roles(("sysadmin",)), "warning", f"同一地址多次登录失败：{ip or '未知地址'}",
           f"地址 {ip or '未知'} 在{detail}，可能有人在猜测密码。请核实来源，必要时在防火墙上封禁该地址。",
           link="/admin/users?status=locked")


def _record_failure(event: str, login_name: str, user: User | None, ip: str, user_agent: str, detail: str,
                    rules: Lockout) -> None:
    now = utcnow()
    row, just_locked = _count_failure(login_name.lower(), ip, now, rules)
    if just_locked:
        log_login_event("locked", login_name, user, ip, user_agent,
                        f"{detail}；同一地址连续 {rules.max_failures} 次失败，锁定 {rules.lock_minutes} 分钟")
        _watch_address(ip, user_agent, now, rules)
        raise AccountLocked(_locked_message(row.locked_until))
    log_login_event(event, login_name, user, ip, user_agent, detail)
    _watch_address(ip, user_agent, now, rules)


def authenticate(login_name: str, password: str, *, ip: str, user_agent: str, rules: Lockout) -> User:
    """Check a login. Unknown names and wrong passwords get the same answer at the same cost; failures lock
    the (login name, address) pair, never the account for everyone. Raises ServiceError on refusal; what it
    logged and counted is kept all the same."""
    keep_when_refused()
    login_name = clean(login_name)
    user = db.session.scalar(select(User).where(func.lower(User.login_name) == login_name.lower()))
    # Always one hash check: an unknown name must not answer faster than a real one.
    password_ok = verify_password(user.password_hash if user else _dummy_hash(), password) and user is not None
    now = utcnow()
    throttle = _throttle(login_name.lower(), ip)
    if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
        log_login_event("refused_locked", login_name, user, ip, user_agent)
        raise AccountLocked(_locked_message(throttle.locked_until))
    if not password_ok:
        _record_failure("failure", login_name, user, ip, user_agent, "密码错误" if user else "登录名不存在", rules)
        raise ServiceError(BAD_CREDENTIALS)
    if not user.is_active_flag:
        log_login_event("refused_inactive", login_name, user, ip, user_agent)
        raise ServiceError("该账户已停用，请联系系统管理员。")
    if throttle is not None:
        db.session.delete(throttle)
    user.last_login_at = now
    log_login_event("success", login_name, user, ip, user_agent)
    return user


def _set_password(user: User, new_password: str) -> None:
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    db.session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))
    end_all_sessions(user.id, "password")


def _check_new_password(user: User, new_password: str, keep: int, field: str = "new_password") -> None:
    errors = policy_errors(new_password, user.login_name, _context_words(user))
    if errors:
        raise ServiceError("；".join(errors) + "。", field=field)
    if reused(user.id, new_password, keep):
        raise ServiceError(f"新密码不能与最近 {keep} 次使用过的密码相同。", field=field)


def _context_words(user: User | None, staff_id: int | None = None) -> dict[str, str]:
    """Words a guesser tries first for this person: their name and the hospital's."""
    words = {"医院名称": current_app.config.get("HOSPITAL_NAME", "") if has_app_context() else ""}
    staff = user.staff if user is not None else (db.session.get(Staff, staff_id) if staff_id else None)
    if staff is not None:
        words["姓名"] = staff.name
        words["工号"] = staff.employee_no
    return words


def change_password(user: User, current_password: str, new_password: str, *, keep: int, ip: str = "",
                    user_agent: str = "", rules: Lockout | None = None) -> None:
    """The user changes their own password (also the forced change at first login).

    A wrong current password counts like a failed sign-in from this address: a stolen session cannot be used
    to guess the password (the count is kept although the change is refused)."""
    keep_when_refused()
    if rules is not None:
        throttle = _throttle(user.login_name.lower(), ip)
        if throttle is not None and throttle.locked_until is not None and throttle.locked_until > utcnow():
            raise AccountLocked(_locked_message(throttle.locked_until))
    if not verify_password(user.password_hash, current_password):
        if rules is not None:
            _record_failure("password_failure", user.login_name, user, ip, user_agent, "当前密码错误", rules)
        raise ServiceError("当前密码不正确。", field="current_password")
    _check_new_password(user, new_password, keep)
    _set_password(user, new_password)
    user.must_change_password = False
    log_login_event("password_changed", user.login_name, user)
    audit.record("update", "user", user.id, label=user.login_name, changes={"password": {"before": "***",
                                                                                          "after": "***"}})


def _roles_by_ids(role_ids: list[int]) -> list[Role]:
    roles = list(db.session.scalars(select(Role).where(Role.id.in_(role_ids)))) if role_ids else []
    if len(roles) != len(set(role_ids)):
        raise ServiceError("所选角色不存在。", field="role_ids")
    return roles


def _user_snapshot(user: User) -> dict:
    data = audit.snapshot(user, USER_FIELDS[:-1])
    data["role_codes"] = sorted(r.code for r in user.roles)
    return data


def _check_unique(user: User | None, login_name: str, staff_id: int | None, wecom_userid: str | None) -> None:
    others = select(User).where(User.id != (user.id if user else -1))
    if db.session.scalar(others.where(func.lower(User.login_name) == login_name.lower())):
        raise ServiceError("登录名已被使用。", field="login_name")
    if staff_id is not None:
        if db.session.get(Staff, staff_id) is None:
            raise ServiceError("所选人员不存在。", field="staff_id")
        if db.session.scalar(others.where(User.staff_id == staff_id)):
            raise ServiceError("该人员已有登录账户。", field="staff_id")
    if wecom_userid and db.session.scalar(others.where(User.wecom_userid == wecom_userid)):
        raise ServiceError("该企业微信账号已绑定其他用户。", field="wecom_userid")


def create_user(*, login_name: str, password: str, staff_id: int | None, wecom_userid: str | None,
                role_ids: list[int], keep: int = 5) -> User:
    """Create an account; the initial password must be changed at first login."""
    login_name = clean(login_name)
    wecom_userid = clean(wecom_userid) or None
    _check_unique(None, login_name, staff_id, wecom_userid)
    errors = policy_errors(password, login_name, _context_words(None, staff_id))
    if errors:
        raise ServiceError("；".join(errors) + "。", field="password")
    user = User(login_name=login_name, password_hash="", staff_id=staff_id, wecom_userid=wecom_userid,
                is_active_flag=True, must_change_password=True, roles=_roles_by_ids(role_ids))
    db.session.add(user)
    db.session.flush()
    _set_password(user, password)
    audit.record("create", "user", user.id, label=login_name, after=_user_snapshot(user))
    return user


def update_user(user: User, *, login_name: str, staff_id: int | None, wecom_userid: str | None,
                role_ids: list[int]) -> User:
    before = _user_snapshot(user)
    login_name = clean(login_name)
    wecom_userid = clean(wecom_userid) or None
    _check_unique(user, login_name, staff_id, wecom_userid)
    user.login_name = login_name
    user.staff_id = staff_id
    user.wecom_userid = wecom_userid
    user.roles = _roles_by_ids(role_ids)
    user.access_version += 1
    db.session.flush()
    db.session.refresh(user, ["staff"])
    audit.record("update", "user", user.id, label=login_name, before=before, after=_user_snapshot(user))
    return user


def set_user_active(user: User, active: bool, *, acting_user_id: int | None) -> User:
    if not active and user.id == acting_user_id:
        raise ServiceError("不能停用自己的账户。")
    if user.is_active_flag == active:
        return user
    user.is_active_flag = active
    if not active:
        end_all_sessions(user.id, "deactivated")
    audit.record("activate" if active else "deactivate", "user", user.id, label=user.login_name,
                 changes={"is_active": {"before": not active, "after": active}})
    return user


def reset_password(user: User, new_password: str, *, keep: int) -> User:
    """An administrator sets a temporary password; the user must change it at next login."""
    _check_new_password(user, new_password, keep, field="password")
    _set_password(user, new_password)
    user.must_change_password = True
    _clear_throttles(user)
    audit.record("reset_password", "user", user.id, label=user.login_name)
    return user


def _clear_throttles(user: User) -> int:
    result = db.session.execute(delete(LoginThrottle).where(LoginThrottle.login_name == user.login_name.lower())
                                .execution_options(synchronize_session=False))
    db.session.expire(user, ["locked_until"])
    return result.rowcount


def unlock_user(user: User) -> User:
    """Lift the account's lockouts from every address; an account that is not locked is left as it is
    (and nothing is audited)."""
    if not user.is_locked():
        return user
    before = format_datetime(user.locked_until)
    _clear_throttles(user)
    audit.record("unlock", "user", user.id, label=user.login_name,
                 changes={"locked_until": {"before": before, "after": None}})
    return user


def _role_snapshot(role: Role) -> dict:
    data = audit.snapshot(role, ROLE_FIELDS[:-1])
    data["permissions"] = sorted(role.permission_codes)
    return data


def _apply_role(role: Role, name: str, description: str, data_scope: str, permissions: list[str]) -> None:
    unknown = [p for p in permissions if p not in REGISTRY or REGISTRY[p].implicit]
    if unknown:
        raise ServiceError("包含未知的权限。", field="permissions")
    if data_scope not in DATA_SCOPES:
        raise ServiceError("数据范围无效。", field="data_scope")
    clash = db.session.scalar(select(Role).where(Role.name == clean(name), Role.id != (role.id or -1)))
    if clash:
        raise ServiceError("角色名称已存在。", field="name")
    role.name = clean(name)
    role.description = clean(description)
    role.data_scope = data_scope
    wanted = set(permissions)
    role.grants = [g for g in role.grants if g.permission in wanted] + [
        RolePermission(permission=p) for p in sorted(wanted - role.permission_codes)
    ]


def create_role(*, code: str, name: str, description: str, data_scope: str, permissions: list[str]) -> Role:
    code = clean(code)
    if db.session.scalar(select(Role).where(Role.code == code)):
        raise ServiceError("角色代码已存在。", field="code")
    role = Role(code=code, name="", description="", data_scope="own", is_system=False)
    role.grants = []
    _apply_role(role, name, description, data_scope, permissions)
    db.session.add(role)
    db.session.flush()
    audit.record("create", "role", role.id, label=role.name, after=_role_snapshot(role))
    return role


def update_role(role: Role, *, name: str, description: str, data_scope: str, permissions: list[str]) -> Role:
    """Change a role; everybody holding it gets the new rights at their next request."""
    before = _role_snapshot(role)
    _apply_role(role, name, description, data_scope, permissions)
    db.session.flush()
    bump_access_for_role(role.id)
    audit.record("update", "role", role.id, label=role.name, before=before, after=_role_snapshot(role))
    return role


def bump_access_for_role(role_id: int) -> None:
    from .models import user_roles

    holders = select(user_roles.c.user_id).where(user_roles.c.role_id == role_id)
    db.session.execute(update(User).where(User.id.in_(holders)).values(access_version=User.access_version + 1)
                       .execution_options(synchronize_session=False))
    db.session.expire_all()


def bump_access_for_all() -> None:
    db.session.execute(update(User).values(access_version=User.access_version + 1)
                       .execution_options(synchronize_session=False))
    db.session.expire_all()
