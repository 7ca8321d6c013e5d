"""Key-project budgets: medical affairs' dashboard of all projects, a project's execution page, the spending
report over three years."""

from datetime import timedelta

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    from sqlalchemy import select

    from portal.budget.models import BudgetProject
    from portal.extensions import db

    with ctx.app.app_context():
        project_id = db.session.scalar(select(BudgetProject.id).where(BudgetProject.status == "active")
                                       .order_by(BudgetProject.id))
    ma = ctx.cookie("bma")
    start = ctx.today - timedelta(days=3 * 365)  # the longest period of a report without a summary table
    pages = [Page("budget: dashboard", 3, [Request("budget: dashboard", "/budget", ma)]),
             Page("budget: spending report (3 years)", 1, [Request(
                 "budget: spending report (3 years)",
                 f"/reports/budget_spending?date_from={start.isoformat()}&date_to={ctx.today.isoformat()}", ma)])]
    if project_id:
        pages.append(Page("budget: project", 3, [Request("budget: project", f"/budget/projects/{project_id}", ma)]))
    return Load(pages=pages)
