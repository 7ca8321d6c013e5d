"""The append-only audit log, written by services for every create, update, delete and sign-off.

Each record carries an HMAC-SHA256, under a key kept outside the database, of its own content and
of the previous record's hash, so an edit or a deletion made behind the application's back breaks
the chain at a findable place, and the hashes cannot be recomputed without the key. Records written
before the chain was keyed carry a plain SHA-256 and still verify: only as the chain's beginning,
never after a keyed record. Anchors outside the database (audit_chain.py) catch a cut-off tail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Integer, String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db

from . import masking
from .actor import current_actor
from .audit_chain import Anchor, mac, read_anchors
from .models import Base, IdMixin, UTCDateTime
from .timeutil import utcnow

ACTIONS = {
    "create": "新建",
    "update": "修改",
    "delete": "删除",
    "approve": "审批通过",
    "reject": "驳回",
    "reset_password": "重置密码",
    "unlock": "解锁",
    "deactivate": "停用",
    "activate": "启用",
    "grant": "授权",
    "reveal": "查看敏感信息",
    "rotate_key": "轮换密钥",
    "export": "导出",
    "cancel": "取消",
    "close": "关闭/结案",
    "complete": "完成",
    "reschedule": "改期",
    "reassign": "改派",
    "build": "生成清单",
    "publish": "发布新版本",
    "revoke": "吊销",
    "submit": "提交",
    "revise": "修订",
}

# Entity types shown on the auditor's page; domains add theirs with register_entity().
ENTITY_TYPES: dict[str, str] = {
    "user": "用户",
    "role": "角色",
    "department": "科室",
    "staff": "人员",
    "audit_log": "审计日志",
    "login_event": "登录日志",
}


def register_entity(code: str, label: str) -> None:
    ENTITY_TYPES.setdefault(code, label)


GENESIS = "0" * 64
_PG_LOCK_KEY = 727001  # serialises chain appends on PostgreSQL


class AuditLog(Base, IdMixin):
    __tablename__ = "audit_logs"

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: outlives the user row
    user_name: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    entity_type: Mapped[str] = mapped_column(String(64), index=True)
    entity_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    entity_label: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(String(32), index=True)
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    @property
    def action_label(self) -> str:
        return ACTIONS.get(self.action, self.action)

    @property
    def entity_type_label(self) -> str:
        return ENTITY_TYPES.get(self.entity_type, self.entity_type)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(obj, fields: Iterable[str]) -> dict[str, Any]:
    """The named attributes of an object as JSON-ready values, for before/after."""
    return {f: _plain(getattr(obj, f)) for f in fields}


def diff(before: dict | None, after: dict | None) -> dict[str, dict[str, Any]]:
    before, after = before or {}, after or {}
    out = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            out[key] = {"before": old, "after": new}
    return out


def _payload(log: AuditLog) -> bytes:
    payload = {
        "created_at": _plain(log.created_at),
        "user_id": log.user_id,
        "user_name": log.user_name,
        "ip": log.ip,
        "user_agent": log.user_agent,
        "entity_type": log.entity_type,
        "entity_id": log.entity_id,
        "entity_label": log.entity_label,
        "action": log.action,
        "changes": log.changes,
        "prev_hash": log.prev_hash,
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _content_hash(log: AuditLog) -> str:
    """The record's keyed hash (HMAC-SHA256 under the audit key)."""
    return mac(_payload(log))


def _legacy_hash(log: AuditLog) -> str:
    """The unkeyed SHA-256 that records written before the chain was keyed carry."""
    return hashlib.sha256(_payload(log)).hexdigest()


def record(action: str, entity_type: str, entity_id: Any, *, label: str = "",
           before: dict | None = None, after: dict | None = None, changes: dict | None = None) -> AuditLog:
    """Append one audit record in the current transaction (the caller's commit makes it durable)."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    session.flush()  # ids of new objects are known before they are named
    actor = current_actor()
    prev = session.execute(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)).scalar()
    log = AuditLog(
        created_at=utcnow().replace(microsecond=0),
        user_id=actor.user_id,
        user_name=actor.name[:64],
        ip=actor.ip[:64],
        user_agent=actor.user_agent[:255],
        entity_type=entity_type,
        entity_id=str(entity_id if entity_id is not None else ""),
        entity_label=(label or "")[:255],
        action=action,
        changes=_plain(masking.audited_changes(entity_type, changes if changes is not None else diff(before, after))),
        prev_hash=prev or GENESIS,
    )
    log.hash = _content_hash(log)
    session.add(log)
    session.flush()
    return log


@dataclass
class ChainReport:
    checked: int
    broken_id: int | None = None
    reason: str = ""
    legacy: int = 0  # records from before the chain was keyed (plain SHA-256), all at its beginning
    head_id: int | None = None  # the last record checked, and its hash: what the next anchor records
    head_hash: str = ""
    first_keyed_id: int | None = None
    anchors: int = 0  # anchors found and matched
    last_anchor: Anchor | None = None
    anchor_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken_id is None and not self.anchor_problems


def _anchor_mismatch(anchor: Anchor, count: int, row_hash: str) -> str:
    return (f"与 {anchor.when} 的锚点不符（锚点：到该记录共 {anchor.count} 条，哈希 {anchor.hash[:12]}…；"
            f"现在：共 {count} 条，哈希 {row_hash[:12]}…），该记录或它之前的记录被删除或替换")


def verify_chain(batch: int = 2000) -> ChainReport:
    """Walk the chain in id order, checking every link, every keyed hash and every anchor.

    Reports the first record whose link or hash is wrong, or, for a record an anchor names that
    is gone, the first missing id (the id after the last record still present before it).
    """
    anchors, problems = read_anchors()
    pending = deque(sorted(anchors, key=lambda a: (a.row_id, a.at)))
    # Once a record was keyed, no later record may be unkeyed: an anchor remembers where that began.
    keyed_from = min((a.first_keyed_id for a in anchors if a.first_keyed_id), default=None)
    report = ChainReport(0, anchor_problems=problems, last_anchor=max(anchors, key=lambda a: a.at, default=None))
    prev, prev_id, keyed = GENESIS, 0, False

    def broken(row_id: int, reason: str) -> ChainReport:
        report.broken_id, report.reason = row_id, reason
        return report

    stmt = select(AuditLog).order_by(AuditLog.id).execution_options(yield_per=batch, populate_existing=True)
    result = db.session.scalars(stmt)
    try:  # a server-side cursor on PostgreSQL: close it also when stopping early
        for log in result:
            if pending and pending[0].row_id < log.id:
                a = pending[0]
                return broken(prev_id + 1, f"记录缺失：{a.when} 的锚点记载第 {a.row_id} 号记录（当时共 {a.count} 条），"
                                           f"现已不存在，第 {prev_id + 1}–{a.row_id} 号之间的记录被删除")
            if log.prev_hash != prev:
                return broken(log.id, "与上一条记录的链接不符（记录被删除或插入）")
            if hmac.compare_digest(_content_hash(log), log.hash):
                if not keyed:
                    report.first_keyed_id = log.id
                keyed = True
            elif not keyed and (keyed_from is None or log.id < keyed_from) and _legacy_hash(log) == log.hash:
                report.legacy += 1
            else:
                return broken(log.id, "记录内容与其密钥哈希不符（记录被修改，或有人在没有密钥的情况下重新计算了哈希）")
            prev, prev_id = log.hash, log.id
            report.checked += 1
            report.head_id, report.head_hash = log.id, log.hash
            while pending and pending[0].row_id == log.id:
                a = pending.popleft()
                if a.hash != log.hash or a.count != report.checked:
                    return broken(log.id, _anchor_mismatch(a, report.checked, log.hash))
                report.anchors += 1
    finally:
        result.close()
    if pending:
        a = pending[0]
        return broken(prev_id + 1, f"末尾记录缺失：{a.when} 的锚点记载到第 {a.row_id} 号记录（共 {a.count} 条），"
                                   f"现在只到第 {prev_id} 号（共 {report.checked} 条），"
                                   f"第 {prev_id + 1} 号起的记录被删除")
    return report
