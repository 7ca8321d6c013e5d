"""The audit chain's key and its anchors: what lets the chain be checked against someone who can write the database.

Each audit record's hash is an HMAC-SHA256 under a key kept outside the database (``AUDIT_KEY``, else
derived from ``DATA_KEY``), so a record changed behind the application's back cannot be given a
matching hash, nor can every later hash be recomputed. A chain can still be cut short: deleting the
last records leaves a valid chain. So a nightly job writes the verified head (row id, count, hash)
as one line to an append-only file outside the database, and tells the auditors; verification checks
every anchor, and a row an anchor names that is missing or different is a break.

Each anchor line carries its own HMAC, so a forged or edited line is reported as well.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app

ANCHOR_FILE = "audit_anchors.jsonl"


def chain_key() -> bytes:
    """The HMAC key of the audit chain; never stored in the database."""
    secret = current_app.config.get("AUDIT_KEY") or current_app.config["DATA_KEY"]
    return hashlib.sha256(b"portal-audit-chain\x00" + secret.encode()).digest()


def mac(raw: bytes) -> str:
    return hmac.new(chain_key(), raw, hashlib.sha256).hexdigest()


def anchor_path() -> Path:
    """PORTAL_AUDIT_ANCHOR_PATH, else audit_anchors.jsonl in the instance directory."""
    configured = current_app.config.get("AUDIT_ANCHOR_PATH")
    return Path(configured) if configured else Path(current_app.config["INSTANCE_PATH"]) / ANCHOR_FILE


@dataclass(frozen=True)
class Anchor:
    row_id: int  # the last audit record when the anchor was taken
    count: int  # records up to and including it
    hash: str  # its hash
    first_keyed_id: int | None  # the first record hashed with the key (older ones are plain SHA-256)
    at: str  # when, ISO 8601 UTC

    def _raw(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    def line(self) -> str:
        return json.dumps({**asdict(self), "mac": mac(self._raw())}, ensure_ascii=False, sort_keys=True) + "\n"

    @property
    def when(self) -> str:
        from .timeutil import format_datetime

        try:
            return format_datetime(datetime.fromisoformat(self.at))
        except ValueError:
            return self.at


def read_anchors() -> tuple[list[Anchor], list[str]]:
    """The anchors whose own MAC holds, and a Chinese note for each line that does not."""
    path = anchor_path()
    anchors: list[Anchor] = []
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return anchors, problems
    except OSError as exc:
        return anchors, [f"无法读取锚点文件 {path}：{exc.strerror or exc}"]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            anchor = Anchor(row_id=int(data["row_id"]), count=int(data["count"]), hash=str(data["hash"]),
                            first_keyed_id=int(data["first_keyed_id"]) if data.get("first_keyed_id") else None,
                            at=str(data["at"]))
            good = hmac.compare_digest(mac(anchor._raw()), str(data.get("mac", "")))
        except (ValueError, KeyError, TypeError):
            good = False
        if good:
            anchors.append(anchor)
        else:
            problems.append(f"锚点文件第 {number} 行校验失败（被修改，或不是用本系统的审计密钥写入的）")
    return anchors, problems


def append_anchor(anchor: Anchor) -> None:
    """Append one anchor line and force it to disk (the file is only ever appended to)."""
    path = anchor_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, anchor.line().encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
