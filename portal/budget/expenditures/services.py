"""Expenditures entered one by one: checks, the over-line rule (reason, and approval when the project says so),
the attachment through the approval store's checks, and the warnings they may trigger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.approvals import services as approvals
from portal.approvals import subjects
from portal.approvals.subjects import Summary
from portal.auth.models import User
from portal.core import audit
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import format_date
from portal.extensions import db

from ..execution import summary, warnings
from ..execution.queries import line_figures
from ..models import BudgetLine, BudgetProject, Expenditure

FIELDS = ("line_id", "spent_on", "amount", "description", "voucher_no", "status", "over_reason")


def lock_project(project_id: int) -> BudgetProject:
    """The project row, locked for this transaction (PostgreSQL): expenditures of one project are checked one
    after the other, so two of them cannot both fit the same remaining amount. SQLite writes are serialised."""
    db.session.execute(select(BudgetProject.id).where(BudgetProject.id == project_id).with_for_update())
    return db.session.get(BudgetProject, project_id, populate_existing=True)


def leaf_lines(project_id: int) -> list[BudgetLine]:
    """The lines that take expenditures (lines without sub-lines)."""
    lines = list(db.session.scalars(select(BudgetLine).where(BudgetLine.project_id == project_id)
                                    .order_by(BudgetLine.position, BudgetLine.id)))
    parents = {line.parent_id for line in lines if line.parent_id}
    return [line for line in lines if line.id not in parents]


@atomic()
def add_expenditure(project: BudgetProject, user: User, *, line_id: int | None, spent_on: date, amount: Decimal,
                    description: str, voucher_no: str, over_reason: str = "",
                    attachment: tuple[str, bytes] | None = None) -> Expenditure:
    """Record one expenditure. Over its line's remaining budget it needs a reason, and when the project requires
    it, approval: it is then committed (reserved) until approved."""
    project = lock_project(project.id)
    if project.status != "active":
        raise ServiceError("项目已决算，不能再登记支出。", status=409)
    if line_id not in {line.id for line in leaf_lines(project.id)}:
        raise ServiceError("请选择本项目的预算科目（有下级科目的请选下级科目）。", field="line_id")
    if amount is None or amount <= 0:
        raise ServiceError("金额必须大于 0。", field="amount")
    if not project.start_date <= spent_on <= project.end_date:
        raise ServiceError(f"支出日期应在项目周期内（{format_date(project.start_date)} 至 "
                           f"{format_date(project.end_date)}）。", field="spent_on")
    voucher_no = "".join(clean(voucher_no).split())
    if not voucher_no:
        raise ServiceError("请填写凭证号。", field="voucher_no")
    if db.session.scalar(select(Expenditure.id).where(Expenditure.project_id == project.id,
                                                      Expenditure.voucher_no == voucher_no)):
        raise ServiceError(f"凭证号 {voucher_no} 已登记过。", field="voucher_no")
    description = clean(description)
    if not description:
        raise ServiceError("请填写摘要。", field="description")
    content_type = ""
    if attachment:
        content_type = approvals.check_upload(*attachment)
    remaining = line_figures(project, line_id).remaining
    over = amount > remaining
    over_reason = clean(over_reason)
    if over and not over_reason:
        raise ServiceError(f"该科目可用余额 ¥{remaining:,.2f}，本笔支出将超出预算，请填写超预算理由。",
                           field="over_reason")
    item = Expenditure(project_id=project.id, line_id=line_id, spent_on=spent_on, amount=amount,
                       description=description[:500], voucher_no=voucher_no[:40],
                       over_reason=over_reason[:2000] if over else "",
                       status="committed" if over and project.approve_over_line else "spent",
                       attachment_name=clean(attachment[0])[-200:] if attachment else "",
                       attachment_type=content_type, attachment=attachment[1] if attachment else None)
    db.session.add(item)
    db.session.flush()
    summary.count_new([(item.project_id, item.line_id, item.spent_on, item.status, item.amount)])
    audit.record("create", "budget_expenditure", item.id, label=f"{project.name} {voucher_no}",
                 after={**audit.snapshot(item, FIELDS), "project": project.code})
    if item.status == "committed":
        instance = approvals.submit("budget_overspend", entity_type="budget_expenditure", entity_id=item.id,
                                    title=f"超预算支出：{project.name} ¥{amount:,.2f}", applicant=user,
                                    department_id=project.department_id, comment=over_reason[:2000])
        item.approval_id = instance.id
    else:
        warnings.check_thresholds(project)
    return item


class ExpenditureSubject:
    entity_type = "budget_expenditure"
    label = "项目支出"

    def summary(self, entity_id: int) -> Summary | None:
        item = db.session.get(Expenditure, entity_id)
        if item is None:
            return None
        project = item.project
        fig = line_figures(project, item.line_id)
        return Summary(title=f"超预算支出：{project.name}", url=f"/budget/projects/{project.id}", facts=[
            ("项目", f"{project.code} {project.name}"), ("科室", project.department.name),
            ("预算科目", item.line.label), ("金额", f"¥{item.amount:,.2f}"), ("日期", format_date(item.spent_on)),
            ("摘要", item.description), ("凭证号", item.voucher_no),
            ("科目预算", f"¥{fig.budget:,.2f}（V{project.current_version}）"),
            ("已支出", f"¥{fig.spent:,.2f}"), ("超预算理由", item.over_reason)])

    def _set(self, entity_id: int, status: str) -> Expenditure:
        item = db.session.get(Expenditure, entity_id)
        before = item.status
        item.status = status
        db.session.flush()
        summary.count_status(item.project_id, item.line_id, item.spent_on, item.amount, before, status)
        audit.record("update", "budget_expenditure", item.id, label=item.voucher_no, before={"status": before},
                     after={"status": status})
        return item

    def on_approved(self, entity_id, instance):
        item = self._set(entity_id, "spent")
        warnings.check_thresholds(db.session.get(BudgetProject, item.project_id))

    def on_returned(self, entity_id, instance):
        pass  # stays committed until resubmitted and decided, or withdrawn

    def on_rejected(self, entity_id, instance):
        self._set(entity_id, "rejected")

    def on_withdrawn(self, entity_id, instance):
        self._set(entity_id, "rejected")


subjects.register(ExpenditureSubject())
