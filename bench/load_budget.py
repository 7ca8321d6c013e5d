"""Key-project budgets: medical affairs' dashboard of all projects, a project's execution page, the spending
report over five years (whole months: read from the monthly summary)."""

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
    first = ctx.today.replace(day=1)
    end = first.fromordinal(first.toordinal() - 1)  # the five years up to the end of last month
    five_years = f"date_from={first.year - 5}-{first.month:02d}-01&date_to={end.isoformat()}"
    pages = [Page("budget: dashboard", 3, [Request("budget: dashboard", "/budget", ma)]),
             Page("budget: spending report (5 years)", 1, [Request(
                 "budget: spending report (5 years)", f"/reports/budget_spending?{five_years}", ma)])]
    if project_id:
        pages.append(Page("budget: project", 3, [Request("budget: project", f"/budget/projects/{project_id}", ma)]))
    return Load(pages=pages)
