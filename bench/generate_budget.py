"""Key-project budgets over five years: projects with ten lines each (two parents with sub-lines), their first
version, and expenditures spread over each project's period (a few over-line ones committed), in bulk."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from portal.budget.models import BudgetLine, BudgetProject, BudgetVersion, BudgetVersionLine, Expenditure

from .kit import Context

# scale -> (projects, expenditures); every project has LINES lines
SIZES = {"small": (10, 1_000), "medium": (100, 40_000), "hospital": (200, 100_000)}
LINES = 10
CATEGORIES = ("equipment", "materials", "personnel", "training", "travel", "publication", "other")


def sizes(scale_name: str) -> tuple[int, int]:
    return SIZES.get(scale_name, SIZES["small"])


def generate(ctx: Context) -> dict:
    projects_n, spend_n = sizes(ctx.scale.name)
    rng, depts, creator = ctx.rng, ctx.ids["departments"], ctx.users.get("bma")
    first = ctx.day(ctx.scale.days)
    now = ctx.now
    projects, periods = [], []
    for n in range(projects_n):
        start = first + timedelta(days=n * max(ctx.scale.days - 365, 1) // projects_n)
        end = start + timedelta(days=365 * (1 + n % 3) - 1)
        status = "closed" if end < ctx.today else "active"
        projects.append((f"BZD-{n:05d}", f"重点项目{n:05d}", depts[n % len(depts)], start, end, status, "80,100", 10,
                         n % 5 == 0, 1, "", now, now, creator))
        periods.append((start, end))
    project_ids = ctx.bulk(BudgetProject, ("code", "name", "department_id", "start_date", "end_date", "status",
                                           "thresholds", "ahead_margin", "approve_over_line", "current_version",
                                           "closing_note", "created_at", "updated_at", "created_by_id"), projects)
    parents = []
    for pid, (start, _) in zip(project_ids, periods, strict=True):
        parents += [(pid, None, f"P{k}", f"科目组{k}", CATEGORIES[k], start.year, k, "", now, now) for k in range(2)]
    parent_ids = ctx.bulk(BudgetLine, ("project_id", "parent_id", "code", "name", "category", "year", "position",
                                       "variance_note", "created_at", "updated_at"), parents)
    lines, leaf_of = [], {}
    for i, (pid, (start, _)) in enumerate(zip(project_ids, periods, strict=True)):
        for k in range(LINES - 2):
            parent = parent_ids[2 * i + k % 2] if k < 4 else None
            lines.append((pid, parent, f"L{k:02d}", f"预算科目{k:02d}", CATEGORIES[k % len(CATEGORIES)], start.year,
                          k + 2, "", now, now))
    leaf_ids = ctx.bulk(BudgetLine, ("project_id", "parent_id", "code", "name", "category", "year", "position",
                                     "variance_note", "created_at", "updated_at"), lines)
    for n, lid in enumerate(leaf_ids):
        leaf_of.setdefault(project_ids[n // (LINES - 2)], []).append(lid)
    amounts = {lid: Decimal(rng.randrange(50, 500) * 1000) for lid in leaf_ids}
    versions = [(pid, 1, "初始预算", sum(amounts[lid] for lid in leaf_of[pid]), now, now) for pid in project_ids]
    version_ids = ctx.bulk(BudgetVersion, ("project_id", "number", "note", "total", "created_at", "updated_at"),
                           versions)
    vlines = [(vid, lid, amounts[lid], now, now) for vid, pid in zip(version_ids, project_ids, strict=True)
              for lid in leaf_of[pid]]
    vlines += [(vid, parent_ids[2 * i + k], Decimal("0.00"), now, now)
               for i, vid in enumerate(version_ids) for k in range(2)]
    ctx.bulk(BudgetVersionLine, ("version_id", "line_id", "amount", "created_at", "updated_at"), vlines)
    spends = []
    for n in range(spend_n):
        i = n % len(project_ids)
        pid, (start, end) = project_ids[i], periods[i]
        lid = leaf_of[pid][rng.randrange(len(leaf_of[pid]))]
        span = max((min(end, ctx.today) - start).days, 0)
        day: date = start + timedelta(days=rng.randint(0, span))
        amount = Decimal(rng.randrange(100, 900_000)) / 100
        status = "committed" if n % 997 == 0 else "spent"
        spends.append((pid, lid, day, amount, f"支出{n:06d}", f"V{n:07d}", status, "", "", "", now, now))
    ctx.bulk(Expenditure, ("project_id", "line_id", "spent_on", "amount", "description", "voucher_no", "status",
                           "over_reason", "attachment_name", "attachment_type", "created_at", "updated_at"), spends)
    # The expenditures went in by bulk insert, past the services that keep their monthly summary: compute it once.
    from portal.budget.execution import summary

    summary.rebuild()
    return {"budget projects": len(project_ids), "budget lines": len(parent_ids) + len(leaf_ids),
            "expenditures": len(spends)}
