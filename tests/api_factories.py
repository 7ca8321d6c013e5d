"""Client systems and tokens for API tests."""

from __future__ import annotations

from portal.api import clients, tokens
from portal.extensions import db


def make_client(code: str = "HIS", name: str = "测试 HIS", secret: bool = False):
    """A client system (with its signed-link secret when asked): (client, secret or None)."""
    client = clients.by_code(code) or clients.create_client(code=code, name=name, contact="信息科 8001")
    raw_secret = clients.rotate_secret(client) if secret else None
    db.session.commit()
    return client, raw_secret


def make_token(login_name: str, scopes=("plans",), code: str = "HIS", name: str = "测试令牌") -> tuple:
    """A token of client system `code` (created if missing) acting as `login_name`: (token, raw)."""
    client, _ = make_client(code)
    token, raw = tokens.create_token(client=client, name=name, login_name=login_name, scopes=list(scopes))
    db.session.commit()
    return token, raw
