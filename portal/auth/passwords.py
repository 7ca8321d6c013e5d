"""The password policy, stated on the login and change-password pages and enforced here."""

from __future__ import annotations

import secrets
import string
from functools import cache
from pathlib import Path

from flask import current_app, has_app_context
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db

DEFAULT_METHOD = "scrypt:32768:8:1"
MIN_LENGTH = 8
MAX_LENGTH = 128
POLICY_TEXT = (
    "密码至少 8 位，须包含大写字母、小写字母、数字、符号中的至少三类，"
    "不得是常见密码（如 Password1、Admin@123），不得包含登录名、姓名、工号或医院名称，"
    "且不得与最近 5 次使用过的密码相同。"
)
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
# Look-alike characters folded before the list is consulted: P@ssw0rd is password.
LOOKALIKE = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s",
                           "7": "t", "+": "t", "8": "b", "9": "g"})
EDGE = string.digits + string.punctuation + " "
SHORTEST_CONTEXT = 3


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def is_common(password: str) -> bool:
    """In the list as typed, with look-alikes folded, or once digits and symbols are stripped from the ends."""
    lowered = password.lower()
    # Strip before folding (Password1 -> password) and fold before stripping (P@ssw0rd -> password).
    candidates = {lowered, lowered.strip(EDGE), lowered.translate(LOOKALIKE), lowered.strip(EDGE).translate(LOOKALIKE),
                  lowered.translate(LOOKALIKE).strip(EDGE)}
    return not candidates.isdisjoint(common_passwords())


def hash_password(password: str) -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"] if has_app_context() else DEFAULT_METHOD
    return generate_password_hash(password, method=method)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return check_password_hash(password_hash, password)
    except ValueError:
        return False


def policy_errors(password: str, login_name: str, context: dict[str, str] | None = None) -> list[str]:
    """What is wrong with a new password, in Chinese; empty when it is acceptable.

    ``context`` maps a label (姓名, 工号, 医院名称) to a word a guesser would try for this person."""
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
    for label, word in (context or {}).items():
        word = (word or "").strip().lower()
        # Chinese names are short but whole words; short Latin strings would refuse too much.
        long_enough = len(word) >= SHORTEST_CONTEXT or (word and not word.isascii())
        if long_enough and word in password.lower():
            errors.append(f"密码不能包含{label}")
    if is_common(password):
        errors.append("这是常见密码（或只是在常见密码前后加了数字、符号），很容易被猜中，请换一个不常见的组合")
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


def generate_password(length: int = 14) -> str:
    """A random password that satisfies the policy (all four character classes)."""
    alphabet = string.ascii_letters + string.digits + "!@#%^*-_"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.isupper() for c in candidate) and any(c.islower() for c in candidate)
                and any(c.isdigit() for c in candidate) and any(not c.isalnum() for c in candidate)):
            return candidate
