"""Original import files: who may see an import, the audited download, and the purge after the retention period.

An import (its log row, its original file, a big import's job page) is seen by the user who made it, by
the import type's managers (the users holding the type's own permission) and by the auditor; nobody else
learns it exists (404). Every download of an original is audited. The originals of types that carry
personal data (`ImportType.personal_data`) are deleted after IMPORT_ORIGINAL_DAYS by a scheduled job;
the log row stays, marked as purged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, false, or_, select, update

from portal.core import audit
from portal.core.permissions import REGISTRY, has_permission
from portal.core.service import ServiceError
from portal.core.timeutil import utcnow
from portal.extensions import db

from . import IMPORT_DATA, imports
from .models import ImportLog

AUDITOR_PERMISSION = "audit.view"  # registered by the audit domain; looked up by code (io names no domain)
PURGE_BATCH = 500

audit.ACTIONS.setdefault("download", "下载原始文件")
audit.ACTIONS.setdefault("purge", "按期删除原始文件")


def retention_days() -> int:
    return max(1, int(current_app.config["IMPORT_ORIGINAL_DAYS"]))


def purged_notice() -> str:
    return f"原始文件已按规定删除（保留 {retention_days()} 天）"


# --- who may see an import ---

def _holds(user, code: str) -> bool:
    return code in REGISTRY and has_permission(user, REGISTRY[code])


def is_auditor(user) -> bool:
    return _holds(user, AUDITOR_PERMISSION)


def manages(user, code: str) -> bool:
    """The import type's managers: holders of its own permission (of io.import for a type that declares none)."""
    import_type = imports.TYPES.get(code)
    return import_type is not None and _holds(user, import_type.permission or IMPORT_DATA.code)


def may_list(user) -> bool:
    """The import log page is for importers and the auditor."""
    return _holds(user, IMPORT_DATA.code) or is_auditor(user)


def may_see(user, user_id: int | None, code: str) -> bool:
    """One import (its log, its original, its job): the importer, the type's managers, the auditor."""
    if is_auditor(user):
        return True
    if not _holds(user, IMPORT_DATA.code):
        return False
    return (user_id is not None and user_id == user.id) or manages(user, code)


def visible_logs(user) -> Select:
    """The import logs the user may see, as a query (the list, the recent imports of a type)."""
    stmt = select(ImportLog)
    if is_auditor(user):
        return stmt
    if not _holds(user, IMPORT_DATA.code):
        return stmt.where(false())
    managed = [code for code in imports.TYPES if manages(user, code)]
    return stmt.where(or_(ImportLog.import_type.in_(managed), ImportLog.user_id == user.id))


def visible_log(user, log_id: int) -> ImportLog | None:
    """The log if the user may see it; None when it does not exist or is not theirs to see (the same answer)."""
    log = db.session.get(ImportLog, log_id) if 0 < log_id < 2**31 else None
    if log is None or not may_see(user, log.user_id, log.import_type):
        return None
    return log


# --- the download ---

def download_original(log: ImportLog) -> bytes:
    """The original file of an import; the download is audited (who, which import log, which file)."""
    if log.original_purged_at is not None:
        raise ServiceError(purged_notice() + "，无法下载。", status=410)
    import_type = imports.TYPES.get(log.import_type)
    label = import_type.label if import_type else log.import_type
    audit.record("download", "import_log", log.id, label=f"{label}：{log.filename[-100:]}",
                 changes={"file": log.filename, "sha256": log.sha256, "import_type": log.import_type})
    return log.content


# --- the purge ---

def purge_originals(now: datetime | None = None) -> dict:
    """Delete the bytes of personal-data originals older than the retention period; one audit entry in all.

    The log rows stay (with `original_purged_at` set); a second run finds nothing and writes nothing.
    """
    now = now or utcnow()
    days = retention_days()
    cutoff = now - timedelta(days=days)
    codes = sorted(code for code, import_type in imports.TYPES.items() if import_type.personal_data)
    if not codes:
        return {"purged": 0, "days": days}
    ids = list(db.session.scalars(
        select(ImportLog.id).where(ImportLog.import_type.in_(codes), ImportLog.original_purged_at.is_(None),
                                   ImportLog.created_at < cutoff).order_by(ImportLog.id)))
    if not ids:
        return {"purged": 0, "days": days}
    for start in range(0, len(ids), PURGE_BATCH):
        batch = ids[start:start + PURGE_BATCH]
        db.session.execute(update(ImportLog).where(ImportLog.id.in_(batch))
                           .values(content=b"", original_purged_at=now)
                           .execution_options(synchronize_session=False))
    # Objects already loaded in this session must not keep the old bytes.
    purged = set(ids)
    for log in list(db.session.identity_map.values()):
        if isinstance(log, ImportLog) and log.id in purged:
            db.session.expire(log)
    audit.record("purge", "import_log", "", label=f"导入原始文件按期删除（保留 {days} 天）：{len(ids)} 个",
                 changes={"count": len(ids), "log_ids": ids, "import_types": codes, "days": days,
                          "created_before": cutoff})
    return {"purged": len(ids), "days": days}
