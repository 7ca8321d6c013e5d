"""Expenditures from the finance system's export (财务系统支出明细) as an Excel import.

Every row names its project (项目编号) and line (科目编码 or name); rows with a negative or non-numeric amount,
an unknown project or line, a date outside the project's period, a voucher number already in the file or in
the database, or an overspend without a reason are errors, and a file with any error writes nothing. The rows
are inserted in bulk with the framework's one summary audit record; then the projects touched are checked
against their warning thresholds.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select, tuple_

from portal.auth.models import User
from portal.core.actor import current_actor
from portal.core.timeutil import format_date, utcnow
from portal.extensions import db
from portal.io.bulk import insert_rows
from portal.io.columns import CellError, ImportColumn, register_lookup
from portal.io.imports import ImportType, register

from .. import MANAGE
from ..execution import summary, warnings
from ..execution.queries import line_spending, version_amounts
from ..models import BudgetLine, BudgetProject, Expenditure
from ..money import MoneyError, positive_money


def _money(value) -> Decimal:
    try:
        return positive_money(value)
    except MoneyError as error:
        raise CellError(str(error)) from None


register_lookup("money", _money)

COLUMNS = [
    ImportColumn("project_code", "项目编号", required=True, max_length=32, aliases=("项目代码",)),
    ImportColumn("line", "预算科目", required=True, max_length=200, aliases=("科目", "科目编码"),
                 help="科目编码或名称"),
    ImportColumn("spent_on", "日期", kind="date", required=True, aliases=("支出日期", "记账日期")),
    ImportColumn("amount", "金额", kind="money", required=True, aliases=("支出金额", "金额（元）"),
                 help="大于 0，最多两位小数"),
    ImportColumn("description", "摘要", required=True, max_length=500),
    ImportColumn("voucher_no", "凭证号", required=True, max_length=40, aliases=("凭证编号",)),
    ImportColumn("over_reason", "超预算理由", max_length=2000, help="超过科目余额时必填"),
]


def _reach() -> frozenset[int] | None:
    """The departments whose projects the importing user manages (None: all; the system imports anywhere)."""
    user_id = current_actor().user_id
    user = db.session.get(User, user_id) if user_id else None
    return user.principal.departments_for(MANAGE) if user is not None else None


def _check_rows(rows) -> None:
    """Project, line, period, voucher numbers in the database and the over-line rule: a few queries per file."""
    codes = {r.values["project_code"] for r in rows}
    projects = {p.code: p for p in db.session.scalars(select(BudgetProject).where(BudgetProject.code.in_(codes)))}
    ids = [p.id for p in projects.values()]
    lines: dict[int, dict[str, BudgetLine]] = defaultdict(dict)
    parents: set[int] = set()
    for line in db.session.scalars(select(BudgetLine).where(BudgetLine.project_id.in_(ids))):
        lines[line.project_id][line.code] = line
        lines[line.project_id].setdefault(line.name, line)
        if line.parent_id:
            parents.add(line.parent_id)
    pairs = [(projects[r.values["project_code"]].id, r.values["voucher_no"]) for r in rows
             if r.values["project_code"] in projects]
    known = set()
    for start in range(0, len(pairs), 500):
        known |= set(db.session.execute(select(Expenditure.project_id, Expenditure.voucher_no).where(
            tuple_(Expenditure.project_id, Expenditure.voucher_no).in_(pairs[start:start + 500]))).all())
    reach = _reach()
    remaining: dict[int, Decimal] = {}
    for project in projects.values():
        amounts = version_amounts(project.id, project.current_version)
        used = line_spending(project.id)
        for line_id, amount in amounts.items():
            committed, spent = used.get(line_id, (Decimal(0), Decimal(0)))
            remaining[line_id] = amount - committed - spent
    for row in rows:
        values = row.values
        project = projects.get(values["project_code"])
        if project is None:
            row.errors.append(("项目编号", values["project_code"], "找不到该项目"))
            continue
        if reach is not None and project.department_id not in reach:
            row.errors.append(("项目编号", values["project_code"], "该项目不在您可以管理的科室范围内"))
            continue
        if project.status != "active":
            row.errors.append(("项目编号", values["project_code"], "项目已决算，不能再导入支出"))
            continue
        line = lines[project.id].get(values["line"])
        if line is None or line.id in parents:
            message = "该科目有下级科目，请填写下级科目" if line else "本项目没有这个预算科目"
            row.errors.append(("预算科目", values["line"], message))
            continue
        if not project.start_date <= values["spent_on"] <= project.end_date:
            row.errors.append(("日期", format_date(values["spent_on"]),
                               f"不在项目周期内（{format_date(project.start_date)} 至 "
                               f"{format_date(project.end_date)}）"))
            continue
        if (project.id, values["voucher_no"]) in known:
            row.errors.append(("凭证号", values["voucher_no"], "该凭证号已登记过"))
            continue
        left = remaining.get(line.id, Decimal(0))
        if values["amount"] > left:
            if project.approve_over_line:
                row.errors.append(("金额", str(values["amount"]), "超出科目余额，该项目超预算需审批，请逐笔登记"))
                continue
            if not values.get("over_reason"):
                row.errors.append(("超预算理由", None,
                                   f"超出科目余额（¥{max(left, Decimal(0)):,.2f}），请填写超预算理由"))
                continue
        remaining[line.id] = left - values["amount"]
        values["_project_id"], values["_line_id"] = project.id, line.id


def _find(keys):
    return {}  # every valid row is new: voucher numbers already stored are row errors (above)


def _write_many(new, corrections):
    now, author = utcnow(), current_actor().user_id
    if new:
        insert_rows(Expenditure.__table__, [
            {"project_id": v["_project_id"], "line_id": v["_line_id"], "spent_on": v["spent_on"],
             "amount": v["amount"], "description": v["description"], "voucher_no": v["voucher_no"],
             "status": "spent", "over_reason": v.get("over_reason") or "", "attachment_name": "",
             "attachment_type": "", "created_at": now, "updated_at": now, "created_by_id": author} for v in new])
        summary.count_new((v["_project_id"], v["_line_id"], v["spent_on"], "spent", v["amount"]) for v in new)
        db.session.flush()
        for project_id in sorted({v["_project_id"] for v in new}):
            warnings.check_thresholds(db.session.get(BudgetProject, project_id))
    return []


EXPENDITURE_IMPORT = register(ImportType(
    code="budget_expenditures", label="项目支出（财务导出）", columns=COLUMNS, key=("project_code", "voucher_no"),
    compact=("project_code", "voucher_no"), find_existing=_find, write_many=_write_many, check_rows=_check_rows,
    max_rows=20_000, permission="budget.manage",
    example=("ZD-2026-01", "A01", "2026-03-15", "12,345.60", "购置离心机", "记-2026-0315-01", "")))
