"""Personal data at rest: AES-GCM encryption plus a keyed hash for exact-match lookups.

ID numbers and phone numbers are stored encrypted (a random nonce per value) and beside them an
HMAC-SHA256 of the normalised value, so that "find the patient with this ID number" is an index
lookup without decrypting the table. Both keys derive from ``DATA_KEY`` (PORTAL_DATA_KEY), which
must be kept with the backups: without it the encrypted columns cannot be read.

Rotation: the new key becomes PORTAL_DATA_KEY and the old one goes to PORTAL_DATA_KEY_PREVIOUS, which only
decrypts; ``portal.core.keyrotation`` then seals every registered column (``register_sealed``) under the new key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

_PREFIX = b"v1:"


class DecryptError(ValueError):
    """A stored value that the configured key cannot open (wrong key or damaged data)."""


def _derived(secret: str) -> tuple[bytes, bytes]:
    encryption = hashlib.sha256(b"portal-data-encryption\x00" + secret.encode()).digest()
    lookup = hashlib.sha256(b"portal-data-lookup\x00" + secret.encode()).digest()
    return encryption, lookup


def _keys() -> tuple[bytes, bytes]:
    return _derived(current_app.config["DATA_KEY"])


def _previous_keys() -> list[bytes]:
    """The encryption keys of former data keys (PORTAL_DATA_KEY_PREVIOUS): they open values, never seal them."""
    return [_derived(secret)[0] for secret in current_app.config.get("DATA_KEY_PREVIOUS") or ()]


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
    for key in (_keys()[0], *_previous_keys()):
        try:
            return AESGCM(key).decrypt(blob[:12], blob[12:], _PREFIX).decode()
        except InvalidTag:
            continue
    raise DecryptError("wrong key or damaged value")


def sealed_by_current_key(token: str | None) -> bool:
    """Whether the current key opens a stored value (empty values need no key)."""
    if not token:
        return True
    raw = token.encode()
    if not raw.startswith(_PREFIX):
        return False
    blob = base64.b64decode(raw[len(_PREFIX):])
    try:
        AESGCM(_keys()[0]).decrypt(blob[:12], blob[12:], _PREFIX)
    except InvalidTag:
        return False
    return True


def lookup_hash(value: str | None) -> str | None:
    """The keyed hash of a normalised value: equal inputs give equal hashes, nothing else leaks."""
    if value is None or value == "":
        return None
    return hmac.new(_keys()[1], normalise(value).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Sealed:
    """A table's columns the data key protects, declared by the domain that owns the table.

    `encrypted`: columns holding ``encrypt()`` values. `hashes`: (hash column, source column) pairs; the source is
    an encrypted column (the hash is of its plain value) or a plain column, whose stored value is hashed when
    `plain_source(value)` says it is the value that was hashed (a masked reference is not).
    """

    model: Any
    encrypted: tuple[str, ...] = ()
    hashes: tuple[tuple[str, str], ...] = ()
    plain_source: Callable[[str], bool] | None = None
    only: Callable[[Any], Any] | None = None  # model -> a condition: the rows that need their hashes kept


SEALED: list[Sealed] = []


def register_sealed(sealed: Sealed) -> None:
    SEALED.append(sealed)
