"""Warnings, each told once per crossing: execution-rate thresholds (per line and per project) and spending
that runs ahead of the period.

A warning is claimed by inserting its unique key with ON CONFLICT DO NOTHING: of two expenditures crossing the
same threshold at the same moment only the one whose insert wrote the row notifies.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from portal.auth.queries import active_user_ids_with_roles
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db
from portal.notify.services import notify

from ..models import BudgetProject, BudgetWarning
from .queries import ZERO, execution

MEDICAL_AFFAIRS = ("ma_admin", "ma_staff")


def recipients(project: BudgetProject) -> list[int]:
    """The owner department's head and secretary, and medical affairs."""
    return sorted(set(active_user_ids_with_roles(("dept_head", "dept_secretary"), project.department_id))
                  | set(active_user_ids_with_roles(MEDICAL_AFFAIRS)))


def _claim(key: str, project_id: int, line_id: int | None, kind: str, threshold: int, message: str) -> bool:
    """Insert the warning unless its key exists; True when this call wrote it."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    stmt = insert(BudgetWarning.__table__).values(key=key, project_id=project_id, line_id=line_id, kind=kind,
                                        threshold=threshold, message=message[:300], created_at=now,
                                        updated_at=now).on_conflict_do_nothing(index_elements=["key"])
    return db.session.execute(stmt.returning(BudgetWarning.__table__.c.id)).scalar() is not None


def _tell(project: BudgetProject, title: str, body: str) -> None:
    notify(recipients(project), "budget", title, body, f"/budget/projects/{project.id}")


def check_thresholds(project: BudgetProject) -> int:
    """Warn once for every threshold the project or one of its lines has reached; how many were new."""
    figures = execution(project)
    told = 0
    targets = [(None, "项目合计", figures.total)]
    for row in figures.rows:
        targets.append((row.line.id, row.line.label, row.figures))
        targets.extend((child.line.id, child.line.label, child.figures) for child in row.children)
    for line_id, label, fig in targets:
        if fig.budget <= ZERO:
            continue
        for threshold in project.threshold_list:
            if fig.spent * 100 < fig.budget * threshold:
                continue
            key = f"p{project.id}:{'l' + str(line_id) if line_id else 'total'}:{threshold}"
            rate = (fig.spent * 100 / fig.budget).quantize(Decimal("0.1"))
            message = (f"{project.name}（{label}）执行率 {rate}%，已达 {threshold}% 预警线"
                       f"（预算 ¥{fig.budget:,.2f}，已支出 ¥{fig.spent:,.2f}，预算版本 V{figures.version}）")
            if _claim(key, project.id, line_id, "threshold", threshold, message):
                _tell(project, f"预算执行预警：{project.name}", message)
                told += 1
    return told


def elapsed_share(project: BudgetProject, today: date) -> Decimal:
    days = (project.end_date - project.start_date).days + 1
    passed = min(max((today - project.start_date).days + 1, 0), days)
    return Decimal(passed) / Decimal(days)


def check_ahead(project: BudgetProject, today: date | None = None) -> bool:
    """Warn once when the share spent exceeds the share of the period elapsed by more than the margin."""
    today = today or local_today()
    total = execution(project).total
    if total.budget <= ZERO or today < project.start_date:
        return False
    spent_share = total.spent / total.budget
    time_share = elapsed_share(project, today)
    if spent_share * 100 <= time_share * 100 + project.ahead_margin:
        return False
    message = (f"{project.name} 已支出 {spent_share * 100:.1f}%，而项目周期仅过去 {time_share * 100:.1f}%"
               f"（允许超前 {project.ahead_margin} 个百分点）")
    if _claim(f"p{project.id}:ahead", project.id, None, "ahead", project.ahead_margin, message):
        _tell(project, f"支出超进度预警：{project.name}", message)
        return True
    return False


def check_all_ahead(today: date | None = None) -> dict[str, int]:
    """The daily check over every active project (idempotent: a project is told once)."""
    today = today or local_today()
    told = select(BudgetWarning.project_id).where(BudgetWarning.kind == "ahead")
    projects = db.session.scalars(select(BudgetProject).where(BudgetProject.status == "active",
                                                              BudgetProject.start_date <= today,
                                                              BudgetProject.id.not_in(told)))
    checked = warned = 0
    for project in projects:
        checked += 1
        warned += check_ahead(project, today)
    return {"checked": checked, "warned": warned}
