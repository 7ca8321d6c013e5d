"""Client systems (对接系统): register, edit, deactivate, rotate the signed-link secret (shown once)."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func, select

from portal.core import audit, crypto
from portal.core.service import ServiceError, clean
from portal.core.timeutil import utcnow
from portal.extensions import db

from .models import ApiClient

audit.ACTIONS.setdefault("rotate_secret", "更换密钥")
FIELDS = ("code", "name", "contact", "notes", "is_active", "secret_rotated_at")
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


def _check(client: ApiClient | None, code: str, name: str) -> None:
    if not CODE.fullmatch(code):
        raise ServiceError("系统代码只能用字母、数字、下划线和连字符（32 个字符以内），如 HIS、HR。", field="code")
    if not name or len(name) > 100:
        raise ServiceError("请填写系统名称（100 字以内）。", field="name")
    clash = select(ApiClient.id).where(func.lower(ApiClient.code) == code.lower(),
                                       ApiClient.id != (client.id if client else -1))
    if db.session.scalar(clash):
        raise ServiceError("系统代码已存在。", field="code")


def create_client(*, code: str, name: str, contact: str = "", notes: str = "") -> ApiClient:
    code, name = clean(code), clean(name)
    _check(None, code, name)
    client = ApiClient(code=code, name=name, contact=clean(contact)[:100], notes=(notes or "").strip(), is_active=True)
    db.session.add(client)
    db.session.flush()
    audit.record("create", "api_client", client.id, label=f"{name}（{code}）", after=audit.snapshot(client, FIELDS))
    return client


def update_client(client: ApiClient, *, code: str, name: str, contact: str, notes: str, is_active: bool) -> ApiClient:
    """Edit a client system; deactivating it stops all its tokens and signed links at once (they are kept)."""
    before = audit.snapshot(client, FIELDS)
    code, name = clean(code), clean(name)
    _check(client, code, name)
    client.code, client.name, client.contact = code, name, clean(contact)[:100]
    client.notes, client.is_active = (notes or "").strip(), is_active
    db.session.flush()
    audit.record("update", "api_client", client.id, label=f"{name}（{code}）", before=before,
                 after=audit.snapshot(client, FIELDS))
    return client


def rotate_secret(client: ApiClient) -> str:
    """A new shared secret for signed links (the old one stops at once); returned once, stored encrypted."""
    if not client.is_active:
        raise ServiceError("该对接系统已停用，不能更换密钥。")
    before = audit.snapshot(client, FIELDS)
    secret = secrets.token_hex(32)
    client.secret_encrypted = crypto.encrypt(secret)
    client.secret_rotated_at = utcnow()
    db.session.flush()
    # The secret itself never reaches the audit log.
    audit.record("rotate_secret", "api_client", client.id, label=f"{client.name}（{client.code}）", before=before,
                 after=audit.snapshot(client, FIELDS))
    return secret


def secret_of(client: ApiClient) -> str | None:
    """The client's signed-link secret, or None if it has none (or the data key cannot open it)."""
    if not client.secret_encrypted:
        return None
    try:
        return crypto.decrypt(client.secret_encrypted)
    except crypto.DecryptError:
        return None


def by_code(code: str) -> ApiClient | None:
    return db.session.scalar(select(ApiClient).where(ApiClient.code == code)) if code else None
