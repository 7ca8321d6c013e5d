"""Budget changes (追加预算, 科目间调剂) through the approval engine; an approved change makes a new version."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from portal.approvals import services as approvals
from portal.approvals import subjects
from portal.approvals.subjects import Summary
from portal.auth.models import User
from portal.core import audit
from portal.core.service import ServiceError, atomic, clean
from portal.extensions import db

from ..execution import warnings
from ..execution.queries import line_figures, version_amounts
from ..expenditures.services import lock_project
from ..models import CHANGE_KINDS, BudgetChange, BudgetLine, BudgetProject, BudgetVersion, BudgetVersionLine

FIELDS = ("kind", "from_line_id", "to_line_id", "amount", "reason", "status", "version_number")


def _leaf(project: BudgetProject, line_id: int | None, field: str) -> BudgetLine:
    line = db.session.get(BudgetLine, line_id) if line_id else None
    if line is None or line.project_id != project.id:
        raise ServiceError("请选择本项目的预算科目。", field=field)
    if db.session.scalar(select(BudgetLine.id).where(BudgetLine.parent_id == line.id).limit(1)):
        raise ServiceError(f"科目 {line.label} 有下级科目，请选择具体的下级科目。", field=field)
    return line


@atomic()
def request_change(project: BudgetProject, user: User, *, kind: str, to_line_id: int | None,
                   from_line_id: int | None, amount: Decimal, reason: str) -> BudgetChange:
    """Ask for an increase of a line or a move between two lines; it takes effect when approved."""
    if project.status != "active":
        raise ServiceError("项目已决算，不能调整预算。", status=409)
    if kind not in CHANGE_KINDS:
        raise ServiceError("请选择调整方式。", field="kind")
    if amount <= 0:
        raise ServiceError("调整金额必须大于 0。", field="amount")
    reason = clean(reason)
    if not reason:
        raise ServiceError("请填写调整理由。", field="reason")
    to_line = _leaf(project, to_line_id, "to_line_id")
    from_line = None
    if kind == "move":
        from_line = _leaf(project, from_line_id, "from_line_id")
        if from_line.id == to_line.id:
            raise ServiceError("调出与调入科目不能相同。", field="from_line_id")
        available = line_figures(project, from_line.id).remaining
        if amount > available:
            raise ServiceError(f"调出科目 {from_line.label} 可用余额只有 ¥{available:,.2f}。", field="amount")
    change = BudgetChange(project_id=project.id, kind=kind, from_line_id=from_line.id if from_line else None,
                          to_line_id=to_line.id, amount=amount, reason=reason[:2000], status="pending")
    db.session.add(change)
    db.session.flush()
    what = (f"{CHANGE_KINDS[kind]} ¥{amount:,.2f}："
            + (f"{from_line.label} → {to_line.label}" if from_line else to_line.label))
    instance = approvals.submit("budget_change", entity_type="budget_change", entity_id=change.id,
                                title=f"预算调整：{project.name}（{what}）", applicant=user,
                                department_id=project.department_id, comment=reason[:2000])
    change.approval_id = instance.id
    audit.record("create", "budget_change", change.id, label=f"{project.name} {what}",
                 after={**audit.snapshot(change, FIELDS), "project": project.code})
    return change


def apply_change(change: BudgetChange) -> BudgetVersion:
    """Copy the current version with the change applied as the next version; the project moves to it."""
    project = lock_project(change.project_id)
    amounts = version_amounts(project.id, project.current_version)
    amounts[change.to_line_id] = amounts.get(change.to_line_id, Decimal("0")) + change.amount
    if change.from_line_id:
        amounts[change.from_line_id] = amounts.get(change.from_line_id, Decimal("0")) - change.amount
    number = project.current_version + 1
    version = BudgetVersion(project_id=project.id, number=number, total=sum(amounts.values(), Decimal("0")),
                            note=f"{change.kind_label} ¥{change.amount:,.2f}：{change.reason[:400]}")
    db.session.add(version)
    db.session.flush()
    db.session.add_all(BudgetVersionLine(version_id=version.id, line_id=line_id, amount=amount)
                       for line_id, amount in amounts.items())
    before = {"current_version": project.current_version}
    project.current_version = number
    change.status = "approved"
    change.version_number = number
    db.session.flush()
    audit.record("update", "budget_project", project.id, label=f"{project.name}（预算版本 V{number}）", before=before,
                 after={"current_version": number, "total": str(version.total), "change": change.id})
    if change.from_line_id:  # the line given away may now have crossed a threshold
        warnings.check_thresholds(project)
    return version


def project_changes(project_id: int) -> list[BudgetChange]:
    return list(db.session.scalars(select(BudgetChange).where(BudgetChange.project_id == project_id)
                                   .order_by(BudgetChange.id.desc())))


class BudgetChangeSubject(subjects.StatusSubject):
    entity_type = "budget_change"
    label = "预算调整"

    def summary(self, entity_id: int) -> Summary | None:
        change = db.session.get(BudgetChange, entity_id)
        if change is None:
            return None
        project = change.project
        facts = [("项目", f"{project.code} {project.name}"), ("科室", project.department.name),
                 ("调整方式", change.kind_label), ("金额", f"¥{change.amount:,.2f}"),
                 ("调入科目", change.to_line.label)]
        if change.from_line:
            facts.append(("调出科目", change.from_line.label))
        facts += [("当前预算版本", f"V{project.current_version}"), ("理由", change.reason)]
        return Summary(title=f"预算调整：{project.name}", url=f"/budget/projects/{project.id}", facts=facts)

    def _set(self, entity_id: int, status: str) -> None:
        db.session.get(BudgetChange, entity_id).status = status

    def on_approved(self, entity_id, instance):
        apply_change(db.session.get(BudgetChange, entity_id))


subjects.register(BudgetChangeSubject())
