"""The nightly check of the audit chain: verify every record and anchor, record a new anchor, tell the auditors."""

from __future__ import annotations

from flask import current_app

from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit
from portal.core.audit_chain import Anchor, anchor_path, append_anchor
from portal.core.timeutil import utcnow
from portal.notify.services import notify

AUDITOR_ROLE = "auditor"
VERIFY_LINK = "/audit/verify"


def verify_and_anchor() -> dict:
    """Verify the chain; when it holds, anchor its head outside the database. Auditors hear either way.

    A broken chain is never anchored: an anchor vouches for a chain that verified. The message
    (pushed to WeCom as well) gives the auditors a copy of the head that lives outside the database.
    """
    report = audit.verify_chain()
    auditors = active_user_ids_with_roles((AUDITOR_ROLE,))
    anchor = None
    if not report.ok:
        found = [f"第 {report.broken_id} 号记录：{report.reason}"] if report.broken_id else []
        problems = "；".join([*found, *report.anchor_problems][:4])
        current_app.logger.error("audit chain check failed: %s", problems)
        notify(auditors, "warning", "审计日志链校验发现问题",
               f"{problems}。请保全数据库与锚点文件，并按运维手册处理。", VERIFY_LINK)
    elif report.head_id is not None:
        anchor = Anchor(row_id=report.head_id, count=report.checked, hash=report.head_hash,
                        first_keyed_id=report.first_keyed_id, at=utcnow().isoformat(timespec="seconds"))
        append_anchor(anchor)
        notify(auditors, "system", "审计日志链校验通过并已锚定",
               f"已校验 {report.checked} 条记录和 {report.anchors} 个锚点。新锚点：第 {anchor.row_id} 号记录，"
               f"共 {anchor.count} 条，哈希 {anchor.hash[:16]}…。请保留本消息以备核对。", VERIFY_LINK)
    return {"checked": report.checked, "broken_id": report.broken_id, "reason": report.reason,
            "anchor_problems": report.anchor_problems, "anchors": report.anchors,
            "anchor": {"row_id": anchor.row_id, "count": anchor.count, "hash": anchor.hash,
                       "path": str(anchor_path())} if anchor else None}
