"""API tokens: issued to a client system (shown once), looked up by their SHA-256, revoked.

Each token names the scopes (endpoint groups) it may call and acts as one portal account, whose
permissions are checked too and whom the audit log names.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, g
from sqlalchemy import select, text, update
from sqlalchemy.orm import joinedload

from portal.auth.models import User
from portal.core import audit
from portal.core.service import Conflict, ServiceError, clean
from portal.core.timeutil import utcnow
from portal.core.workercache import GenerationCache, worker_cache
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


# The token's answer is cached per worker (per app object) for one value of ``api_auth_generation``: database
# triggers set that row to a new value in the same transaction as any write that can change what a token may
# do (the token, its client system, its account, roles, grants; see the migration), so a revocation, a
# deactivation, a scope or role change is seen by the very next call in every worker. Each call reads the
# generation in one statement together with the generations other caches registered (SHARED_READS: the
# privilege check's), so a privilege check costs one database round trip in all.
SHARED_READS: dict[str, str] = {}
CACHE_SIZE = 4096


def share_read(name: str, scalar_sql: str) -> None:
    """Read `scalar_sql` (one value, e.g. another cache's generation) in the same statement as the token
    generation on every API call; the view finds it with ``shared_value(name)``."""
    SHARED_READS[name] = scalar_sql
    _statement.cache_clear()


def shared_value(name: str):
    """The value read for `name` at this API call's authentication (once: a second use reads afresh), else None."""
    shared = g.get("api_shared_reads")
    return shared.pop(name, None) if shared else None


@dataclass(frozen=True)
class Grant:
    """What an active token may do, as plain values (no ORM object outlives the request)."""

    id: int
    token_prefix: str
    client_id: int
    scope_set: frozenset[str]
    user_id: int
    user_name: str
    permissions: frozenset[str]


def cache() -> GenerationCache:
    return worker_cache("api_token_cache", CACHE_SIZE)


# When each token was last recorded as used, per worker (not tied to a generation).
_TOUCHED = "api_token_touched"


@functools.lru_cache(maxsize=8)
def _statement(names: tuple[str, ...]):
    extra = "".join(f", ({SHARED_READS[name]}) AS shared_{i}" for i, name in enumerate(names))
    return text(f"SELECT (SELECT value FROM api_auth_generation WHERE id = 1) AS generation{extra}")


def _read_generations() -> int:
    names = tuple(SHARED_READS)
    row = db.session.execute(_statement(names)).one()
    g.api_shared_reads = dict(zip(names, row[1:], strict=True))
    return int(row[0] or 0)


def authenticate(header: str | None) -> Grant:
    """What the token of an `Authorization: Bearer <token>` header may do: from this worker's cache when the
    generation read (one statement) still matches, else one query for the token with its client and user;
    ApiError AUTH_MISSING / AUTH_INVALID when there is no usable token."""
    scheme, _, value = (header or "").strip().partition(" ")
    raw = value.strip()
    if scheme.lower() != "bearer" or not raw:
        raise ApiError("AUTH_MISSING", "缺少接口令牌：请在请求头中提供 Authorization: Bearer <令牌>。")
    if len(raw) > MAX_TOKEN_LENGTH:
        raise ApiError("AUTH_INVALID", "接口令牌无效。")
    digest = hash_token(raw)
    generation = _read_generations()  # before the token is loaded: a later write always moves it on
    grant = cache().get(generation, digest)
    if grant is None:
        grant = _load(digest)
        cache().put(generation, digest, grant)
    return grant


def _load(digest: str) -> Grant:
    from portal.auth.principal import principal_for

    token = db.session.scalar(select(ApiToken).options(joinedload(ApiToken.client), joinedload(ApiToken.user))
                              .where(ApiToken.token_hash == digest))
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
    return Grant(token.id, token.token_prefix, token.client_id, token.scope_set, user.id, user.display_name,
                 principal_for(user).permissions)


def touch(grant: Grant) -> None:
    """Record the use, at most once a minute per worker (a busy caller should not write on every request)."""
    now = utcnow()
    touched = current_app.extensions.setdefault(_TOUCHED, {})
    key = (grant.id, grant.token_prefix)
    last = touched.get(key)
    if last is None or now - last >= TOUCH_EVERY or now < last:
        if len(touched) >= CACHE_SIZE:
            touched.clear()
        touched[key] = now
        db.session.execute(update(ApiToken).where(ApiToken.id == grant.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
