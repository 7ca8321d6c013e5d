"""The password policy, stated on the login and change-password pages and enforced here."""

from __future__ import annotations

import string

from flask import current_app, has_app_context
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db

DEFAULT_METHOD = "scrypt:32768:8:1"
MIN_LENGTH = 8
MAX_LENGTH = 128
POLICY_TEXT = (
    "密码至少 8 位，须包含大写字母、小写字母、数字、符号中的至少三类，"
    "不得包含登录名，且不得与最近 5 次使用过的密码相同。"
)


def hash_password(password: str) -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else DEFAULT_METHOD
    return generate_password_hash(password, method=method)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return check_password_hash(password_hash, password)
    except ValueError:
        return False


def policy_errors(password: str, login_name: str) -> list[str]:
    """What is wrong with a new password, in Chinese; empty when it is acceptable."""
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(f"密码至少需要 {MIN_LENGTH} 位")
    if len(password) > MAX_LENGTH:
        errors.append(f"密码不能超过 {MAX_LENGTH} 位")
    classes = sum(
        [
            any(c in string.ascii_uppercase for c in password),
            any(c in string.ascii_lowercase for c in password),
            any(c in string.digits for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        errors.append("密码须包含大写字母、小写字母、数字、符号中的至少三类")
    if login_name and login_name.lower() in password.lower():
        errors.append("密码不能包含登录名")
    return errors


def reused(user_id: int, password: str, keep: int) -> bool:
    from .models import PasswordHistory

    hashes = db.session.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user_id)
        .order_by(PasswordHistory.id.desc())
        .limit(keep)
    )
    return any(verify_password(h, password) for h in hashes)
