"""Key-project spending as a report of the registry: expenditures in a period per project (a line category as a filter),
with the rows behind every number (filters, export, print and archive come from portal/reports)."""

from __future__ import annotations

from sqlalchemy import case, func, select

from portal.core.scoping import scope_query
from portal.reports.registry import Chart, Choice, Column, Drill, Report, ResultCache, Rollup, register

from . import VIEW
from .models import CATEGORIES, EXPENDITURE_STATES, BudgetLine, BudgetProject, Expenditure, SpendingMonth

DEFINITION = ("统计对象：支出日期在所选期间内的重点项目支出（逐笔登记与财务导入）。\n"
              "支出金额 = 状态为“已支出”的金额之和（按分精确相加）；笔数为全部支出笔数（含待审批）。\n"
              "科室负责人与秘书只看到本科室负责的项目；医务科与财务看到全部项目。")


def _scope(stmt, user, permission):
    if user is None:
        return stmt
    projects = scope_query(select(BudgetProject.id), BudgetProject.department_id, user.principal, permission)
    return stmt.where(Expenditure.project_id.in_(projects))


def _generation():
    from .execution.summary import generation

    return generation()


def _query(params):
    return (select(BudgetProject.code.label("project"), BudgetProject.name.label("project_name"),
                   func.count(Expenditure.id).label("count"),
                   func.coalesce(func.sum(case((Expenditure.status == "spent", Expenditure.amount), else_=0)), 0)
                   .label("spent"))
            .join(BudgetProject, BudgetProject.id == Expenditure.project_id)
            .group_by(BudgetProject.code, BudgetProject.name)
            .order_by(BudgetProject.code))


def _of_category(stmt, category: str):
    return stmt.where(Expenditure.line_id.in_(select(BudgetLine.id).where(BudgetLine.category == category)))


def _rollup(params, user):
    """The same rows from budget_spending_months (whole months): summed per project first, then named."""
    stmt = (select(SpendingMonth.project_id, func.sum(SpendingMonth.expenditures).label("count"),
                   func.sum(SpendingMonth.spent).label("spent"))
            .where(SpendingMonth.month >= params.start, SpendingMonth.month <= params.end)
            .group_by(SpendingMonth.project_id))
    category = params.options.get("category_filter")
    if category:
        stmt = stmt.where(SpendingMonth.line_id.in_(select(BudgetLine.id).where(BudgetLine.category == category)))
    if user is not None:
        stmt = stmt.where(SpendingMonth.project_id.in_(
            scope_query(select(BudgetProject.id), BudgetProject.department_id, user.principal, VIEW)))
    sums = stmt.subquery("sums")
    return (select(BudgetProject.code.label("project"), BudgetProject.name.label("project_name"),
                   sums.c.count.label("count"), func.coalesce(sums.c.spent, 0).label("spent"))
            .join(sums, sums.c.project_id == BudgetProject.id)
            .order_by(BudgetProject.code))


def _rows(params, keys: dict):
    stmt = select(Expenditure)
    if "project" in keys:
        stmt = stmt.where(Expenditure.project_id.in_(select(BudgetProject.id)
                                                     .where(BudgetProject.code == keys["project"])))
    return stmt.order_by(Expenditure.spent_on.desc(), Expenditure.id.desc())


def _drill_columns():
    from portal.io.export import Column as Shown

    return (Shown("日期", lambda e: e.spent_on, 12), Shown("项目", lambda e: e.project.name, 24),
            Shown("预算科目", lambda e: e.line.label, 20), Shown("金额", lambda e: e.amount, 14, "#,##0.00"),
            Shown("摘要", lambda e: e.description, 30), Shown("凭证号", lambda e: e.voucher_no, 18),
            Shown("状态", lambda e: EXPENDITURE_STATES[e.status], 10))


DRILL = Drill(rows=_rows, columns=_drill_columns(), title="项目支出明细")

SPENDING = register(Report(
    code="budget_spending", title="重点项目支出统计", permission=VIEW, query=_query,
    columns=(Column("project", "项目编号", fmt="text", width=14),
             Column("project_name", "项目名称", fmt="text", width=30),
             Column("count", "笔数", drill=DRILL, width=10),
             Column("spent", "支出金额", fmt="money", drill=DRILL, width=18)),
    definition=DEFINITION, date_column=Expenditure.spent_on, scope=_scope, department_filter=False,
    filters=(Choice("category_filter", "科目类别", CATEGORIES, apply=_of_category, blank="全部类别"),),
    sees_everything=lambda user: user.principal.departments_for(VIEW) is None,
    chart=Chart("bar", "project_name", ("spent",)), group="项目预算", period="range",
    summary="各重点项目在期间内的支出笔数与金额（可按科目类别筛选）", empty="该期间没有项目支出。",
    rollup=Rollup(_rollup),
    # The rows read projects, lines, expenditures and their monthly sums, which all move the budget generation;
    # the scope reads the projects' departments (the user's departments are in the key).
    cache=ResultCache(_generation)))
