"""Sealing every registered column under the current data key (``cli.py rotate-data-key``).

The operator puts the new key in PORTAL_DATA_KEY and the old one in PORTAL_DATA_KEY_PREVIOUS (which only
decrypts), then runs the rotation with the web and background workers stopped (docs/security.md). It refuses, and
changes nothing, when no former key is set, when the audit chain's key would change with the data key
(PORTAL_AUDIT_KEY unset), or when a stored value opens under none of the keys: every value is checked before any is
written. One transaction: either every value is sealed under the new key, or none is. A value already under the
new key is left alone, so running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select, update

from portal.extensions import db

from . import audit, crypto
from .service import ServiceError

BATCH = 1000


class RotationError(ServiceError):
    pass


@dataclass
class RotationReport:
    rewritten: dict[str, int] = field(default_factory=dict)  # table -> rows sealed anew
    unhashable: dict[str, int] = field(default_factory=dict)  # "table.column" -> rows whose source is masked


def check_settings() -> None:
    config = current_app.config
    if not config.get("DATA_KEY_PREVIOUS"):
        raise RotationError("未设置 PORTAL_DATA_KEY_PREVIOUS（原来的数据密钥）：轮换需要用它读出现有的加密数据。")
    if not config.get("AUDIT_KEY"):
        raise RotationError("未设置 PORTAL_AUDIT_KEY：审计日志的哈希链目前由数据密钥派生，换了数据密钥就无法再校验。"
                            "请先把 PORTAL_AUDIT_KEY 设为原来的 PORTAL_DATA_KEY 的值（所有主机相同），再执行轮换。")
    if config["DATA_KEY"] in config["DATA_KEY_PREVIOUS"]:
        raise RotationError("PORTAL_DATA_KEY 与 PORTAL_DATA_KEY_PREVIOUS 中的密钥相同："
                            "请把新密钥设为 PORTAL_DATA_KEY。")


def _batches(sealed: crypto.Sealed):
    """The rows of a registered table, in id order, a batch at a time: (id, {column: value})."""
    model = sealed.model
    names = list(dict.fromkeys((*sealed.encrypted, *(c for pair in sealed.hashes for c in pair))))
    last = 0
    while True:
        stmt = select(model.id, *(getattr(model, n) for n in names)).where(model.id > last)
        if sealed.only is not None:
            stmt = stmt.where(sealed.only(model))
        rows = db.session.execute(stmt.order_by(model.id).limit(BATCH)).all()
        if not rows:
            return
        yield [(row[0], dict(zip(names, row[1:], strict=True))) for row in rows]
        last = rows[-1][0]


def _check_opens() -> None:
    broken = []
    for sealed in crypto.SEALED:
        for batch in _batches(sealed):
            for row_id, values in batch:
                for name in sealed.encrypted:
                    try:
                        crypto.decrypt(values[name])
                    except crypto.DecryptError:
                        broken.append(f"{sealed.model.__tablename__} #{row_id} {name}")
    if broken:
        shown = "、".join(broken[:10]) + (f" 等 {len(broken)} 处" if len(broken) > 10 else "")
        raise RotationError(f"以下数据用新旧密钥都无法解密，未做任何改动：{shown}。请确认 PORTAL_DATA_KEY_PREVIOUS "
                            "包含写入这些数据时使用的全部密钥。")


def _resealed(sealed: crypto.Sealed, row_id: int, values: dict, report: RotationReport) -> dict | None:
    """A row's changed values under the current key, or None when nothing changes (already rotated)."""
    out = {}
    plain = {}
    for name in sealed.encrypted:
        plain[name] = crypto.decrypt(values[name])
        if not crypto.sealed_by_current_key(values[name]):
            out[name] = crypto.encrypt(plain[name])
    for hash_column, source in sealed.hashes:
        if source in plain:
            digest = crypto.lookup_hash(plain[source])
        elif values[source] and (sealed.plain_source is None or sealed.plain_source(values[source])):
            digest = crypto.lookup_hash(values[source])
        else:
            if values[source] and values[hash_column]:
                key = f"{sealed.model.__tablename__}.{hash_column}"
                report.unhashable[key] = report.unhashable.get(key, 0) + 1
            continue
        if digest != values[hash_column]:
            out[hash_column] = digest
    return {"id": row_id, **out} if out else None


def rotate() -> RotationReport:
    """Seal every registered column under PORTAL_DATA_KEY; the caller commits."""
    check_settings()
    _check_opens()
    report = RotationReport()
    for sealed in crypto.SEALED:
        table = sealed.model.__tablename__
        for batch in _batches(sealed):
            rows = [new for row_id, values in batch if (new := _resealed(sealed, row_id, values, report)) is not None]
            if rows:
                db.session.execute(update(sealed.model), rows)
                report.rewritten[table] = report.rewritten.get(table, 0) + len(rows)
    audit.record("rotate_key", "data_key", "", label="数据密钥轮换",
                 changes={"rows": dict(report.rewritten), "unhashable": dict(report.unhashable)})
    return report
