"""Accounts and roles: sign-in, passwords, lockout, user and role administration."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import func, select, update

from portal.core import audit
from portal.core.permissions import REGISTRY
from portal.core.service import ServiceError, clean
from portal.core.timeutil import format_datetime, utcnow
from portal.extensions import db

from .models import DATA_SCOPES, LoginEvent, PasswordHistory, Role, RolePermission, Staff, User
from .passwords import hash_password, policy_errors, reused, verify_password

USER_FIELDS = ("login_name", "staff_id", "wecom_userid", "is_active_flag", "role_codes")
ROLE_FIELDS = ("code", "name", "description", "data_scope", "permissions")
BAD_CREDENTIALS = "登录名或密码错误。"


def log_login_event(event: str, login_name: str, user: User | None = None, ip: str = "", user_agent: str = "",
                    detail: str = "") -> None:
    db.session.add(LoginEvent(user_id=user.id if user else None, login_name=login_name[:64], event=event,
                              ip=ip[:64], user_agent=user_agent[:255], detail=detail))


def authenticate(login_name: str, password: str, *, ip: str, user_agent: str, max_failures: int,
                 lock_minutes: int) -> User:
    """Check a login; count failures and lock after too many. Raises ServiceError on refusal."""
    login_name = clean(login_name)
    user = db.session.scalar(select(User).where(func.lower(User.login_name) == login_name.lower()))
    now = utcnow()
    if user is None:
        log_login_event("failure", login_name, None, ip, user_agent, "登录名不存在")
        raise ServiceError(BAD_CREDENTIALS)
    if user.is_locked(now):
        log_login_event("refused_locked", login_name, user, ip, user_agent)
        raise ServiceError(f"账户因多次密码错误已锁定，请于 {format_datetime(user.locked_until, '%H:%M')} 后再试，"
                           "或联系系统管理员解锁。")
    if not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=lock_minutes)
            user.failed_logins = 0
            log_login_event("locked", login_name, user, ip, user_agent, f"连续 {max_failures} 次密码错误")
            raise ServiceError(f"密码连续错误 {max_failures} 次，账户已锁定 {lock_minutes} 分钟。")
        log_login_event("failure", login_name, user, ip, user_agent, "密码错误")
        left = max_failures - user.failed_logins
        raise ServiceError(f"{BAD_CREDENTIALS}再错 {left} 次账户将被锁定 {lock_minutes} 分钟。")
    if not user.is_active_flag:
        log_login_event("refused_inactive", login_name, user, ip, user_agent)
        raise ServiceError("该账户已停用，请联系系统管理员。")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    log_login_event("success", login_name, user, ip, user_agent)
    return user


def _set_password(user: User, new_password: str) -> None:
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.session_token = secrets.token_hex(16)
    db.session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))


def _check_new_password(user: User, new_password: str, keep: int, field: str = "new_password") -> None:
    errors = policy_errors(new_password, user.login_name)
    if errors:
        raise ServiceError("；".join(errors) + "。", field=field)
    if reused(user.id, new_password, keep):
        raise ServiceError(f"新密码不能与最近 {keep} 次使用过的密码相同。", field=field)


def change_password(user: User, current_password: str, new_password: str, *, keep: int) -> None:
    """The user changes their own password (also the forced change at first login)."""
    if not verify_password(user.password_hash, current_password):
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
    errors = policy_errors(password, login_name)
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
    user.session_token = secrets.token_hex(16)
    audit.record("activate" if active else "deactivate", "user", user.id, label=user.login_name,
                 changes={"is_active": {"before": not active, "after": active}})
    return user


def reset_password(user: User, new_password: str, *, keep: int) -> User:
    """An administrator sets a temporary password; the user must change it at next login."""
    _check_new_password(user, new_password, keep, field="password")
    _set_password(user, new_password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    audit.record("reset_password", "user", user.id, label=user.login_name)
    return user


def unlock_user(user: User) -> User:
    """Lift a lockout; an account that is not locked is left as it is (and nothing is audited)."""
    if not user.is_locked() and not user.failed_logins:
        return user
    before = format_datetime(user.locked_until)
    user.failed_logins = 0
    user.locked_until = None
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
