"""API tokens: issued to a client system (shown once), looked up by their SHA-256, revoked.

Each token names the scopes (endpoint groups) it may call and acts as one portal account, whose
permissions are checked too and whom the audit log names.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from portal.auth.models import User
from portal.core import audit
from portal.core.service import Conflict, ServiceError, clean
from portal.core.timeutil import utcnow
from portal.extensions import db

from .errors import ApiError
from .models import ApiClient, ApiToken

audit.ACTIONS.setdefault("revoke", "停用")

TOKEN_PREFIX = "pt_"
MAX_TOKEN_LENGTH = 200
TOUCH_EVERY = timedelta(minutes=1)
FIELDS = ("name", "token_prefix", "client_id", "scopes", "user_id", "is_active", "revoked_at")


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def clean_scopes(scopes: Iterable[str]) -> str:
    """Known scope codes, sorted, space separated; an unknown one is a ServiceError."""
    from .registry import SCOPES

    chosen = sorted({clean(s) for s in scopes if clean(s)})
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise ServiceError(f"不认识的接口范围：{'、'.join(unknown[:5])}。", field="scopes")
    if not chosen:
        raise ServiceError("请至少勾选一个接口范围。", field="scopes")
    return " ".join(chosen)


def create_token(*, client: ApiClient, name: str, login_name: str, scopes: Iterable[str]) -> tuple[ApiToken, str]:
    """A new token of a client system, acting as the named user; the token itself is returned once."""
    name = clean(name)
    if not name or len(name) > 100:
        raise ServiceError("请填写令牌名称（100 字以内），如“HIS 次日计划接口”。", field="name")
    if not client.is_active:
        raise ServiceError("该对接系统已停用，不能签发令牌。")
    login_name = clean(login_name)
    user = db.session.scalar(select(User).where(User.login_name == login_name)) if login_name else None
    if user is None:
        raise ServiceError(f"找不到登录名为“{login_name[:64]}”的账户。", field="login_name")
    if not user.is_active_flag:
        raise ServiceError("该账户已停用，不能为其创建令牌。", field="login_name")
    scope_text = clean_scopes(scopes)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=hash_token(raw), token_prefix=raw[:10], client_id=client.id,
                     scopes=scope_text, user_id=user.id, is_active=True)
    db.session.add(token)
    db.session.flush()
    audit.record("create", "api_token", token.id, label=f"{client.name}：{name}（{token.token_prefix}…）",
                 after=audit.snapshot(token, FIELDS))
    return token, raw


def update_scopes(token: ApiToken, scopes: Iterable[str]) -> ApiToken:
    """Change what an existing token may call (takes effect at its next call)."""
    before = audit.snapshot(token, FIELDS)
    token.scopes = clean_scopes(scopes)
    db.session.flush()
    audit.record("update", "api_token", token.id, label=f"{token.name}（{token.token_prefix}…）", before=before,
                 after=audit.snapshot(token, FIELDS))
    return token


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
    """The active token of an `Authorization: Bearer <token>` header (one query with its client and user);
    else ApiError AUTH_MISSING / AUTH_INVALID."""
    scheme, _, value = (header or "").strip().partition(" ")
    raw = value.strip()
    if scheme.lower() != "bearer" or not raw:
        raise ApiError("AUTH_MISSING", "缺少接口令牌：请在请求头中提供 Authorization: Bearer <令牌>。")
    if len(raw) > MAX_TOKEN_LENGTH:
        raise ApiError("AUTH_INVALID", "接口令牌无效。")
    token = db.session.scalar(select(ApiToken).options(joinedload(ApiToken.client), joinedload(ApiToken.user))
                              .where(ApiToken.token_hash == hash_token(raw)))
    if token is None:
        raise ApiError("AUTH_INVALID", "接口令牌无效。")
    if not token.is_active or token.revoked_at is not None:
        raise ApiError("AUTH_INVALID", "接口令牌已停用，请联系系统管理员。")
    if not token.client.is_active:
        raise ApiError("AUTH_INVALID", f"对接系统“{token.client.name}”已停用，请联系系统管理员。")
    user = token.user
    # A password lockout stops password guesses from one address; it does not stop the token.
    if user is None or not user.is_active_flag:
        raise ApiError("AUTH_INVALID", "接口令牌所属的账户已停用，请联系系统管理员。")
    return token


def touch(token: ApiToken) -> None:
    """Record the use, at most once a minute (a busy caller should not write on every request)."""
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
        token.last_used_at = now
