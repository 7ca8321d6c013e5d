"""The violation list and its handling. Every handling is audited; rectification issues a supervision finding."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from portal.auth.models import Department, Staff
from portal.core import audit
from portal.core.service import ServiceError, atomic
from portal.core.timeutil import utcnow
from portal.credentials.models.privileges import PrivilegeOverride
from portal.extensions import db

from ..listing import scoped
from ..models import QualityViolation, Surgery
from . import HANDLE

FIELDS = ("status", "note", "override_id", "finding_id", "handled_by_id")


def list_query(principal, *, kind: str = "", status: str = "open", department_id: int | None = None,
               staff_id: int | None = None, start: date | None = None, end: date | None = None):
    v = QualityViolation
    stmt = select(v)
    if status:
        stmt = stmt.where(v.status == status)
    if kind:
        stmt = stmt.where(v.kind == kind)
    if staff_id:
        stmt = stmt.where(v.staff_id == staff_id)
    if start:
        stmt = stmt.where(v.operation_date >= start)
    if end:
        stmt = stmt.where(v.operation_date <= end)
    stmt = scoped(stmt, v.department_id, principal, HANDLE, department_id)
    return stmt.order_by(v.operation_date.desc(), v.id.desc())


def list_page(stmt):
    """The list's page as plain rows: only the columns shown, the names joined (the violation's eager-loaded
    surgery, surgeon and departments cost most of the page's time as ORM objects)."""
    v = QualityViolation
    return (stmt.with_only_columns(v.id, v.operation_date, v.kind, v.reason, v.status, v.staff_id,
                                   Staff.name.label("staff_name"), Department.name.label("department_name"),
                                   Surgery.operation_name, Surgery.record_id, Surgery.started_at,
                                   maintain_column_froms=True)
            .join(Surgery, Surgery.id == v.surgery_id).join(Staff, Staff.id == v.staff_id)
            .join(Department, Department.id == v.department_id))


def matching_override(violation: QualityViolation) -> PrivilegeOverride | None:
    """An emergency override (紧急授权) HIS recorded for this surgeon and operation within a day of it."""
    surgery = violation.surgery
    start = surgery.started_at - timedelta(hours=24)
    end = (surgery.ended_at or surgery.started_at) + timedelta(hours=24)
    return db.session.scalar(select(PrivilegeOverride).where(
        PrivilegeOverride.staff_id == violation.staff_id, PrivilegeOverride.technology_id == surgery.technology_id,
        PrivilegeOverride.performed_at.between(start, end)).order_by(PrivilegeOverride.performed_at).limit(1))


@atomic()
def handle(violation: QualityViolation, user, action: str, note: str, deadline: date | None = None,
           today: date | None = None) -> QualityViolation:
    if violation.status != "open":
        raise ServiceError("该问题已处理，不能重复处理。", status=409)
    note = (note or "").strip()
    if not note:
        raise ServiceError("请填写说明（原因或整改要求）。", field="note")
    before = audit.snapshot(violation, FIELDS)
    if action == "explained":
        pass
    elif action == "emergency":
        override = matching_override(violation)
        if violation.kind == "privilege" and override is None and violation.surgery.urgency != "emergency":
            raise ServiceError("没有找到与该手术相符的紧急授权记录，且该手术不是急诊手术：请改为情况说明或督导整改。",
                               field="action")
        violation.override_id = override.id if override else None
    elif action == "rectification":
        from portal.supervision.services import issue_finding

        if deadline is None:
            raise ServiceError("下发督导整改须填写整改期限（如 2026-12-31）。", field="deadline")
        s = violation.surgery
        finding = issue_finding(
            department_id=violation.department_id,
            title=f"{violation.kind_label}：{violation.staff.name} {s.operation_name}"[:200],
            description=f"手术记录号 {s.record_id}，{s.operation_date.isoformat()}。{violation.reason_label}\n{note}",
            deadline=deadline)
        violation.finding_id = finding.id
    else:
        raise ServiceError("请选择处理方式。", field="action")
    violation.status = action
    violation.note = note[:1000]
    violation.handled_by_id = user.id
    violation.handled_at = utcnow()
    db.session.flush()
    audit.record("update", "quality_violation", violation.id,
                 label=f"{violation.kind_label} {violation.surgery.record_id}", before=before,
                 after=audit.snapshot(violation, FIELDS))
    return violation
