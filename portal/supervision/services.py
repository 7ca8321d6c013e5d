"""The supervision loop: medical affairs issues a finding, the department rectifies, medical affairs evaluates.

The evaluation is the approval engine's "rectification" process; this module is its subject.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import case, func, select

from portal.approvals import services as approvals
from portal.approvals import subjects
from portal.approvals.subjects import Summary
from portal.auth.models import Department, User
from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit
from portal.core.scoping import scope_query
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import format_date, local_today, utcnow
from portal.extensions import db
from portal.notify.services import notify

from . import VIEW
from .models import Finding

FIELDS = ("department_id", "title", "description", "deadline", "status", "rectification")


def _department_people(department_id: int) -> list[int]:
    return active_user_ids_with_roles(("dept_head", "dept_secretary"), department_id)


def issue_finding(*, department_id: int, title: str, description: str, deadline: date,
                  within: frozenset[int] | None = None) -> Finding:
    """Medical affairs issues a finding to a department, with a deadline; the department is told.

    `within` is the issuer's reach for supervision.issue (None: every department)."""
    if within is not None and department_id not in within:
        raise ServiceError("只能向您可以下发督导问题的科室下发。", field="department_id", status=403)
    dept = db.session.get(Department, department_id)
    if dept is None or dept.kind not in ("department", "ward") or not dept.is_active:
        raise ServiceError("请选择一个在用的科室或病区。", field="department_id")
    if deadline < local_today():
        raise ServiceError("整改期限不能早于今天。", field="deadline")
    finding = Finding(department_id=department_id, title=clean(title), description=clean(description),
                      deadline=deadline, status="issued")
    db.session.add(finding)
    db.session.flush()
    audit.record("create", "supervision_finding", finding.id, label=finding.title,
                 after=audit.snapshot(finding, FIELDS))
    notify(_department_people(department_id), "warning", f"督导问题待整改：{finding.title}",
           f"请于 {format_date(deadline)} 前提交整改措施与证明材料。", f"/supervision/{finding.id}")
    return finding


@atomic()
def answer_finding(finding: Finding, user: User, rectification: str, files=()) -> Finding:
    """The department answers with its rectification and evidence; it goes to medical affairs for evaluation."""
    if finding.status not in ("issued", "rework"):
        raise ServiceError(f"该问题{finding.status_label}，不能再提交整改。", status=409)
    text = clean(rectification)
    if not text:
        raise ServiceError("请填写整改措施。", field="rectification")
    if len(text) > 5000:
        raise ServiceError("整改措施不能超过 5000 字。", field="rectification")
    before = audit.snapshot(finding, FIELDS)
    finding.rectification = text
    finding.status = "answered"
    finding.answered_at = utcnow()
    if finding.approval_id:
        approvals.resubmit(finding.approval_id, user, text[:2000], files)
    else:
        instance = approvals.submit("rectification", entity_type="supervision_finding", entity_id=finding.id,
                                    title=f"整改：{finding.title}", applicant=user,
                                    department_id=finding.department_id, comment=text[:2000], files=files)
        finding.approval_id = instance.id
    audit.record("update", "supervision_finding", finding.id, label=finding.title, before=before,
                 after=audit.snapshot(finding, FIELDS))
    return finding


def list_query(principal, status: str = "", department_id: int | None = None, overdue: bool = False):
    """Findings in the departments the principal may view findings of, filtered."""
    stmt = scope_query(select(Finding), Finding.department_id, principal, VIEW)
    if status:
        stmt = stmt.where(Finding.status == status)
    if department_id:
        stmt = stmt.where(Finding.department_id == department_id)
    if overdue:
        stmt = stmt.where(Finding.status.in_(("issued", "rework")), Finding.deadline < local_today())
    return stmt.order_by(Finding.deadline, Finding.id)


def open_by_department(principal) -> list[dict]:
    """Open findings per department: how many, how many overdue, how many waiting for evaluation."""
    today = local_today()
    open_states = ("issued", "rework", "answered")
    stmt = (select(Department.id, Department.name, func.count(Finding.id),
                   func.sum(case((Finding.status.in_(("issued", "rework")) & (Finding.deadline < today), 1),
                                 else_=0)),
                   func.sum(case((Finding.status == "answered", 1), else_=0)))
            .join(Finding, Finding.department_id == Department.id)
            .where(Finding.status.in_(open_states)).group_by(Department.id, Department.name)
            .order_by(func.count(Finding.id).desc()))
    stmt = scope_query(stmt, Department.id, principal, VIEW)
    return [{"department_id": d, "name": n, "open": o, "overdue": int(late or 0), "answered": int(wait or 0)}
            for d, n, o, late, wait in db.session.execute(stmt)]


class FindingSubject:
    entity_type = "supervision_finding"
    label = "督导整改"

    def summary(self, entity_id: int) -> Summary | None:
        finding = db.session.get(Finding, entity_id)
        if finding is None:
            return None
        return Summary(title=finding.title, url=f"/supervision/{finding.id}", facts=[
            ("科室", finding.department.name), ("督导问题", finding.description),
            ("整改期限", format_date(finding.deadline)), ("整改措施", finding.rectification or "—")])

    def _set(self, entity_id: int, status: str) -> None:
        finding = db.session.get(Finding, entity_id)
        finding.status = status
        finding.closed_at = utcnow() if status == "accepted" else None

    def on_approved(self, entity_id, instance):
        self._set(entity_id, "accepted")

    def on_returned(self, entity_id, instance):
        self._set(entity_id, "rework")

    def on_rejected(self, entity_id, instance):
        self._set(entity_id, "rework")
        db.session.get(Finding, entity_id).approval_id = None  # a rejected evaluation needs a new submission

    def on_withdrawn(self, entity_id, instance):
        self._set(entity_id, "issued")


subjects.register(FindingSubject())
