"""API tokens: created (shown once), looked up by their SHA-256, revoked. Each token acts as one user."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from portal.auth.models import User
from portal.core import audit
from portal.core.service import Conflict, ServiceError, clean
from portal.core.timeutil import utcnow
from portal.extensions import db

from .models import ApiToken

audit.ACTIONS.setdefault("revoke", "停用")

TOKEN_PREFIX = "pt_"
MAX_TOKEN_LENGTH = 200
TOUCH_EVERY = timedelta(minutes=1)
FIELDS = ("name", "token_prefix", "user_id", "is_active", "revoked_at")


class TokenRefused(Exception):
    """The request's token cannot be used; the message says why, in Chinese."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_token(*, name: str, login_name: str) -> tuple[ApiToken, str]:
    """A new token acting as the named user; the token itself is returned once and never stored."""
    name = clean(name)
    if not name or len(name) > 100:
        raise ServiceError("请填写令牌名称（100 字以内），如“HIS 次日计划接口”。", field="name")
    login_name = clean(login_name)
    user = db.session.scalar(select(User).where(User.login_name == login_name)) if login_name else None
    if user is None:
        raise ServiceError(f"找不到登录名为“{login_name[:64]}”的账户。", field="login_name")
    if not user.is_active_flag:
        raise ServiceError("该账户已停用，不能为其创建令牌。", field="login_name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=hash_token(raw), token_prefix=raw[:10], user_id=user.id, is_active=True)
    db.session.add(token)
    db.session.flush()
    audit.record("create", "api_token", token.id, label=f"{name}（{token.token_prefix}…）",
                 after=audit.snapshot(token, FIELDS))
    return token, raw


def revoke_token(token: ApiToken) -> ApiToken:
    """Stop a token at once; it is kept (with its history) but can never be used again."""
    if not token.is_active:
        raise Conflict("该令牌已停用。")
    before = audit.snapshot(token, FIELDS)
    token.is_active, token.revoked_at = False, utcnow()
    db.session.flush()
    audit.record("revoke", "api_token", token.id, label=f"{token.name}（{token.token_prefix}…）", before=before,
                 after=audit.snapshot(token, FIELDS))
    return token


def authenticate(header: str | None) -> ApiToken:
    """The active token of an `Authorization: Bearer <token>` header, whose user may sign in; else TokenRefused."""
    scheme, _, value = (header or "").strip().partition(" ")
    raw = value.strip()
    if scheme.lower() != "bearer" or not raw:
        raise TokenRefused("缺少接口令牌：请在请求头中提供 Authorization: Bearer <令牌>。")
    if len(raw) > MAX_TOKEN_LENGTH:
        raise TokenRefused("接口令牌无效。")
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    if token is None:
        raise TokenRefused("接口令牌无效。")
    if not token.is_active or token.revoked_at is not None:
        raise TokenRefused("接口令牌已停用，请联系系统管理员。")
    user = token.user
    # A password lockout stops password guesses from one address; it does not stop the token.
    if user is None or not user.is_active_flag:
        raise TokenRefused("接口令牌所属的账户已停用，请联系系统管理员。")
    return token


def touch(token: ApiToken) -> None:
    """Record the use, at most once a minute (a busy caller should not write on every request)."""
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
        token.last_used_at = now
