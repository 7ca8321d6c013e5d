"""Personal data at rest: AES-GCM encryption plus a keyed hash for exact-match lookups.

ID numbers and phone numbers are stored encrypted (a random nonce per value) and beside them an
HMAC-SHA256 of the normalised value, so that "find the patient with this ID number" is an index
lookup without decrypting the table. Both keys derive from ``DATA_KEY`` (PORTAL_DATA_KEY), which
must be kept with the backups: without it the encrypted columns cannot be read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

_PREFIX = b"v1:"


class DecryptError(ValueError):
    """A stored value that the configured key cannot open (wrong key or damaged data)."""


def _keys() -> tuple[bytes, bytes]:
    secret = current_app.config["DATA_KEY"].encode()
    encryption = hashlib.sha256(b"portal-data-encryption\x00" + secret).digest()
    lookup = hashlib.sha256(b"portal-data-lookup\x00" + secret).digest()
    return encryption, lookup


def normalise(value: str) -> str:
    """Full-width digits and letters folded, spaces dropped, letters upper case (ID numbers end in X)."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def encrypt(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    nonce = os.urandom(12)
    sealed = AESGCM(_keys()[0]).encrypt(nonce, value.encode(), _PREFIX)
    return (_PREFIX + base64.b64encode(nonce + sealed)).decode()


def decrypt(token: str | None) -> str | None:
    if not token:
        return None
    raw = token.encode()
    if not raw.startswith(_PREFIX):
        raise DecryptError("unknown format")
    blob = base64.b64decode(raw[len(_PREFIX):])
    try:
        return AESGCM(_keys()[0]).decrypt(blob[:12], blob[12:], _PREFIX).decode()
    except InvalidTag:
        raise DecryptError("wrong key or damaged value") from None


def lookup_hash(value: str | None) -> str | None:
    """The keyed hash of a normalised value: equal inputs give equal hashes, nothing else leaks."""
    if value is None or value == "":
        return None
    return hmac.new(_keys()[1], normalise(value).encode(), hashlib.sha256).hexdigest()
