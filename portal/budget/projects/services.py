"""Key projects: creation with their budget lines (version 1), settings, and closing with the final accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.auth.models import Department
from portal.core import audit
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import utcnow
from portal.extensions import db

from ..execution.queries import ZERO, execution
from ..models import CATEGORIES, BudgetLine, BudgetProject, BudgetVersion, BudgetVersionLine
from ..money import MoneyError, parse_money

FIELDS = ("code", "name", "department_id", "start_date", "end_date", "status", "thresholds", "ahead_margin",
          "approve_over_line", "current_version")


@dataclass
class LineSpec:
    code: str
    name: str
    category: str
    year: int
    amount: Decimal
    parent: str = ""


def parse_lines(text: str, start: date, end: date) -> list[LineSpec]:
    """Budget lines typed one per row: 编码 | 名称 | 类别 | 年度 | 金额 | 上级编码 (the last one optional)."""
    labels = {label: code for code, label in CATEGORIES.items()}
    specs: list[LineSpec] = []
    for number, raw in enumerate((text or "").splitlines(), 1):
        if not raw.strip():
            continue
        parts = [p.strip() for p in raw.replace("｜", "|").split("|")]
        if len(parts) not in (5, 6):
            raise ServiceError(f"第 {number} 行应为“编码 | 名称 | 类别 | 年度 | 金额 | 上级编码（可空）”。",
                               field="lines")
        code, name, category, year, amount = parts[:5]
        category = labels.get(category, category)
        if not code or not name or len(code) > 32 or len(name) > 200:
            raise ServiceError(f"第 {number} 行：编码（最多 32 字）和名称必填。", field="lines")
        if category not in CATEGORIES:
            raise ServiceError(f"第 {number} 行：类别应为{'、'.join(CATEGORIES.values())}之一。", field="lines")
        if not year.isdigit() or not start.year <= int(year) <= end.year:
            raise ServiceError(f"第 {number} 行：年度应在项目周期内（{start.year}–{end.year}）。", field="lines")
        try:
            money = parse_money(amount)
        except MoneyError as error:
            raise ServiceError(f"第 {number} 行：{error}。", field="lines") from None
        if money < 0:
            raise ServiceError(f"第 {number} 行：金额不能为负数。", field="lines")
        specs.append(LineSpec(code, name, category, int(year), money, parts[5] if len(parts) == 6 else ""))
    if not specs:
        raise ServiceError("请至少填写一个预算科目。", field="lines")
    codes = [s.code for s in specs]
    if len(set(codes)) != len(codes):
        raise ServiceError("预算科目编码不能重复。", field="lines")
    parents = {s.parent for s in specs if s.parent}
    by_code = {s.code: s for s in specs}
    for spec in specs:
        if spec.parent:
            parent = by_code.get(spec.parent)
            if parent is None:
                raise ServiceError(f"科目 {spec.code} 的上级编码 {spec.parent} 不存在。", field="lines")
            if parent.parent:
                raise ServiceError(f"科目 {spec.code}：预算科目最多两级。", field="lines")
    for code in parents:  # a parent's budget is the sum of its sub-lines
        by_code[code].amount = ZERO
    return specs


def create_project(*, code: str, name: str, department_id: int, start_date: date, end_date: date, lines: str,
                   thresholds: str = "80,100", ahead_margin: int = 10, approve_over_line: bool = False,
                   within: frozenset[int] | None = None) -> BudgetProject:
    """A key project with its budget lines; their amounts are version 1 of the budget."""
    code, name = clean(code), clean(name)
    if not code or not name:
        raise ServiceError("请填写项目编号和名称。", field="code" if not code else "name")
    if within is not None and department_id not in within:
        raise ServiceError("只能为您管理范围内的科室建立项目。", field="department_id", status=403)
    dept = db.session.get(Department, department_id)
    if dept is None or not dept.is_active:
        raise ServiceError("请选择一个在用的科室。", field="department_id")
    if end_date < start_date:
        raise ServiceError("结束日期不能早于开始日期。", field="end_date")
    if db.session.scalar(select(BudgetProject.id).where(BudgetProject.code == code)):
        raise ServiceError(f"项目编号 {code} 已存在。", field="code")
    specs = parse_lines(lines, start_date, end_date)
    project = BudgetProject(code=code, name=name, department_id=department_id, start_date=start_date,
                            end_date=end_date, thresholds=check_thresholds_text(thresholds),
                            ahead_margin=ahead_margin, approve_over_line=approve_over_line, current_version=1)
    db.session.add(project)
    db.session.flush()
    made: dict[str, BudgetLine] = {}
    for position, spec in enumerate(specs):
        line = BudgetLine(project_id=project.id, code=spec.code, name=spec.name, category=spec.category,
                          year=spec.year, position=position)
        db.session.add(line)
        made[spec.code] = line
    db.session.flush()
    for spec in specs:
        if spec.parent:
            made[spec.code].parent_id = made[spec.parent].id
    total = sum((s.amount for s in specs), ZERO)
    version = BudgetVersion(project_id=project.id, number=1, note="初始预算", total=total)
    db.session.add(version)
    db.session.flush()
    db.session.add_all(BudgetVersionLine(version_id=version.id, line_id=made[s.code].id, amount=s.amount)
                       for s in specs)
    db.session.flush()
    audit.record("create", "budget_project", project.id, label=project.name,
                 after={**audit.snapshot(project, FIELDS), "total": str(total),
                        "lines": [[s.code, s.name, s.category, s.year, str(s.amount), s.parent] for s in specs]})
    return project


def check_thresholds_text(text: str) -> str:
    parts = [p.strip() for p in (text or "").replace("，", ",").split(",") if p.strip()]
    if not parts or any(not p.isdigit() or not 1 <= int(p) <= 200 for p in parts):
        raise ServiceError("预警线应为 1–200 之间的整数百分比，用逗号分隔（如 80,100）。", field="thresholds")
    return ",".join(str(v) for v in sorted({int(p) for p in parts}))


def update_settings(project: BudgetProject, *, thresholds: str, ahead_margin: int, approve_over_line: bool) -> None:
    """The project's warning thresholds, ahead-of-time margin and whether overspending needs approval."""
    if project.status != "active":
        raise ServiceError("项目已决算，不能修改。", status=409)
    if not 0 <= ahead_margin <= 100:
        raise ServiceError("超进度容差应在 0–100 个百分点之间。", field="ahead_margin")
    before = audit.snapshot(project, FIELDS)
    project.thresholds = check_thresholds_text(thresholds)
    project.ahead_margin = ahead_margin
    project.approve_over_line = approve_over_line
    db.session.flush()
    audit.record("update", "budget_project", project.id, label=project.name, before=before,
                 after=audit.snapshot(project, FIELDS))


@dataclass
class AccountRow:
    line: BudgetLine
    level: int
    budget: Decimal
    actual: Decimal
    committed: Decimal

    @property
    def variance(self) -> Decimal:
        return self.budget - self.actual

    @property
    def rate(self):
        from ..money import rate
        return rate(self.actual, self.budget)


def final_accounts(project: BudgetProject) -> tuple[list[AccountRow], AccountRow | None, int]:
    """Budget (current version) vs actual per line, with variance; the total; the version compared against."""
    figures = execution(project)
    rows = []
    for row in figures.rows:
        rows.append(AccountRow(row.line, 0, row.figures.budget, row.figures.spent, row.figures.committed))
        rows.extend(AccountRow(c.line, 1, c.figures.budget, c.figures.spent, c.figures.committed)
                    for c in row.children)
    total = figures.total
    return rows, AccountRow(None, 0, total.budget, total.spent, total.committed), figures.version


@atomic()
def close_project(project: BudgetProject, notes: dict[int, str], closing_note: str) -> BudgetProject:
    """Close the project (决算): explanations per line are kept; nothing can be spent on it afterwards."""
    if project.status != "active":
        raise ServiceError("项目已决算。", status=409)
    from ..models import Expenditure

    if db.session.scalar(select(Expenditure.id).where(Expenditure.project_id == project.id,
                                                      Expenditure.status == "committed").limit(1)):
        raise ServiceError("还有待审批的超预算支出，审批结束后才能决算。", status=409)
    rows, _, _ = final_accounts(project)
    for row in rows:
        text = clean(notes.get(row.line.id))
        if len(text) > 1000:
            raise ServiceError(f"科目 {row.line.code} 的说明不能超过 1000 字。", field="notes")
        row.line.variance_note = text
    before = audit.snapshot(project, FIELDS)
    project.status = "closed"
    project.closed_at = utcnow()
    project.closing_note = clean(closing_note)[:5000]
    db.session.flush()
    audit.record("update", "budget_project", project.id, label=f"{project.name}（决算）", before=before,
                 after={**audit.snapshot(project, FIELDS),
                        "notes": {r.line.code: r.line.variance_note for r in rows if r.line.variance_note}})
    return project
