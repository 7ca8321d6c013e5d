"""Execution figures: budget (of a named version), committed, spent, remaining and rate, per line and project."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from portal.core.scoping import scope_query
from portal.extensions import db

from .. import VIEW
from ..models import (
    BudgetLine,
    BudgetProject,
    BudgetVersion,
    BudgetVersionLine,
    BudgetWarning,
    Expenditure,
    SpendingMonth,
)
from ..money import rate

ZERO = Decimal("0.00")


@dataclass
class Figures:
    budget: Decimal = ZERO
    committed: Decimal = ZERO
    spent: Decimal = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.budget - self.spent - self.committed

    @property
    def rate(self) -> Decimal | None:
        return rate(self.spent, self.budget)

    @property
    def over(self) -> bool:
        return self.remaining < 0

    def add(self, other: Figures) -> None:
        self.budget += other.budget
        self.committed += other.committed
        self.spent += other.spent


@dataclass
class LineRow:
    line: BudgetLine
    figures: Figures
    children: list[LineRow] = field(default_factory=list)


@dataclass
class Execution:
    project: BudgetProject
    version: int
    rows: list[LineRow]
    total: Figures


def version_amounts(project_id: int, number: int) -> dict[int, Decimal]:
    """Each line's budget in the given version of the project's budget."""
    stmt = (select(BudgetVersionLine.line_id, BudgetVersionLine.amount)
            .join(BudgetVersion, BudgetVersion.id == BudgetVersionLine.version_id)
            .where(BudgetVersion.project_id == project_id, BudgetVersion.number == number))
    return {line_id: Decimal(amount) for line_id, amount in db.session.execute(stmt)}


def line_spending(project_id: int, line_ids: list[int] | None = None) -> dict[int, tuple[Decimal, Decimal]]:
    """(committed, spent) per line, summed in the database (exact: numeric columns) from the monthly summary."""
    stmt = (select(SpendingMonth.line_id, func.coalesce(func.sum(SpendingMonth.committed), 0),
                   func.coalesce(func.sum(SpendingMonth.spent), 0))
            .where(SpendingMonth.project_id == project_id).group_by(SpendingMonth.line_id))
    if line_ids is not None:
        stmt = stmt.where(SpendingMonth.line_id.in_(line_ids))
    return {line_id: (Decimal(c).quantize(ZERO), Decimal(s).quantize(ZERO))
            for line_id, c, s in db.session.execute(stmt)}


def line_figures(project: BudgetProject, line_id: int) -> Figures:
    budget = version_amounts(project.id, project.current_version).get(line_id, ZERO)
    committed, spent = line_spending(project.id, [line_id]).get(line_id, (ZERO, ZERO))
    return Figures(budget, committed, spent)


def execution(project: BudgetProject, version: int | None = None) -> Execution:
    """The project's lines (sub-lines under their parent) with their figures against one version (default: current)."""
    number = version or project.current_version
    # One statement: each line with its amount in the version and its sums from the monthly summary.
    amounts = (select(BudgetVersionLine.line_id, BudgetVersionLine.amount)
               .join(BudgetVersion, BudgetVersion.id == BudgetVersionLine.version_id)
               .where(BudgetVersion.project_id == project.id, BudgetVersion.number == number).subquery("amounts"))
    spending = (select(SpendingMonth.line_id, func.coalesce(func.sum(SpendingMonth.committed), 0).label("committed"),
                       func.coalesce(func.sum(SpendingMonth.spent), 0).label("spent"))
                .where(SpendingMonth.project_id == project.id).group_by(SpendingMonth.line_id).subquery("spending"))
    found = db.session.execute(
        select(BudgetLine, amounts.c.amount, spending.c.committed, spending.c.spent)
        .outerjoin(amounts, amounts.c.line_id == BudgetLine.id).outerjoin(spending, spending.c.line_id == BudgetLine.id)
        .where(BudgetLine.project_id == project.id).order_by(BudgetLine.position, BudgetLine.id)).all()
    lines = [line for line, *_ in found]
    rows: dict[int, LineRow] = {}
    top: list[LineRow] = []
    for line, amount, committed, spent in found:
        budget = ZERO if amount is None else Decimal(amount)
        if committed is None:  # no expenditure on the line
            rows[line.id] = LineRow(line, Figures(budget, ZERO, ZERO))
        else:
            rows[line.id] = LineRow(line, Figures(budget, Decimal(committed).quantize(ZERO),
                                                  Decimal(spent).quantize(ZERO)))
    for line in lines:
        row = rows[line.id]
        if line.parent_id and line.parent_id in rows:
            rows[line.parent_id].children.append(row)
        else:
            top.append(row)
    total = Figures()
    for row in top:
        for child in row.children:
            row.figures.add(child.figures)  # a parent's own amount is 0: its budget is its sub-lines'
        total.add(row.figures)
    return Execution(project, number, top, total)


def versions(project_id: int) -> list[BudgetVersion]:
    return list(db.session.scalars(select(BudgetVersion).where(BudgetVersion.project_id == project_id)
                                   .order_by(BudgetVersion.number)))


def dashboard_query(principal, status: str = "", department_id: int | None = None, warned: bool = False,
                    with_spending: bool = True):
    """Every key project in scope with its current budget, committed, spent and open warnings: one query.
    Without spending (a page of the dashboard), committed and spent are summed per row for the page's projects
    only (None: no expenditure) instead of for every project before the page is cut."""
    budget = (select(BudgetVersion.project_id.label("project_id"), BudgetVersion.total.label("budget"))
              .join(BudgetProject, (BudgetProject.id == BudgetVersion.project_id)
                    & (BudgetProject.current_version == BudgetVersion.number))
              .subquery("budget"))
    spending = (select(SpendingMonth.project_id.label("project_id"),
                       func.sum(SpendingMonth.committed).label("committed"),
                       func.sum(SpendingMonth.spent).label("spent"))
                .group_by(SpendingMonth.project_id).subquery("spending"))
    warnings = (select(BudgetWarning.project_id.label("project_id"), func.count().label("warnings"))
                .group_by(BudgetWarning.project_id).subquery("warnings"))
    if with_spending:
        stmt = (select(BudgetProject, func.coalesce(budget.c.budget, 0).label("budget"),
                       func.coalesce(spending.c.committed, 0).label("committed"),
                       func.coalesce(spending.c.spent, 0).label("spent"),
                       func.coalesce(warnings.c.warnings, 0).label("warnings"))
                .outerjoin(spending, spending.c.project_id == BudgetProject.id))
    else:  # per row, on the summary's key: computed for the page's rows only (after the sort and limit)
        def summed(column):
            return (select(func.sum(column)).where(SpendingMonth.project_id == BudgetProject.id)
                    .correlate(BudgetProject).scalar_subquery())

        stmt = select(BudgetProject, func.coalesce(budget.c.budget, 0).label("budget"),
                      summed(SpendingMonth.committed).label("committed"), summed(SpendingMonth.spent).label("spent"),
                      func.coalesce(warnings.c.warnings, 0).label("warnings"))
    stmt = (stmt.outerjoin(budget, budget.c.project_id == BudgetProject.id)
            .outerjoin(warnings, warnings.c.project_id == BudgetProject.id))
    stmt = scope_query(stmt, BudgetProject.department_id, principal, VIEW)
    if status:
        stmt = stmt.where(BudgetProject.status == status)
    if department_id:
        stmt = stmt.where(BudgetProject.department_id == department_id)
    if warned:
        stmt = stmt.where(warnings.c.warnings > 0)
    return stmt.order_by(BudgetProject.end_date.desc(), BudgetProject.id.desc())


def dashboard_rows(stmt) -> list[dict]:
    out = []
    for project, budget, committed, spent, warned in db.session.execute(stmt):
        figures = Figures(Decimal(budget).quantize(ZERO), Decimal(committed).quantize(ZERO),
                          Decimal(spent).quantize(ZERO))
        out.append({"project": project, "figures": figures, "warnings": int(warned)})
    return out


def project_warnings(project_id: int) -> list[BudgetWarning]:
    return list(db.session.scalars(select(BudgetWarning).where(BudgetWarning.project_id == project_id)
                                   .order_by(BudgetWarning.created_at.desc(), BudgetWarning.id.desc())))


def expenditures_query(project_id: int, line_ids: list[int] | None = None, status: str = ""):
    """The rows behind a figure: a project's expenditures, optionally of some lines and one state."""
    stmt = select(Expenditure).where(Expenditure.project_id == project_id)
    if line_ids:
        stmt = stmt.where(Expenditure.line_id.in_(line_ids))
    if status:
        stmt = stmt.where(Expenditure.status == status)
    return stmt.order_by(Expenditure.spent_on.desc(), Expenditure.id.desc())
