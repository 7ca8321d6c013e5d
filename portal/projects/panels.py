"""Home panels: a department's open project tasks with deadlines; medical affairs' submissions waiting for review."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from portal.auth.models import Department
from portal.core.panels import MAX_ROWS, Figure, Panel, PanelContent, Row, register
from portal.core.timeutil import format_date, local_today
from portal.extensions import db

from . import MANAGE, SUBMIT
from .models import Material, Project, ProjectItem, ProjectTask
from .tasks import services as tasks


def build_department_tasks(user) -> PanelContent:
    """Open tasks of the user's department, nearest deadline first (the list's own query, so they agree)."""
    today = local_today()
    stmt = tasks.my_tasks_query(user.principal, open_only=True)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    overdue = db.session.scalar(select(func.count()).select_from(
        stmt.where(Project.deadline < today).order_by(None).subquery()))
    rows = []
    shown = list(db.session.scalars(stmt.limit(MAX_ROWS)))
    progress = tasks.progress_of([task.id for task in shown])
    for task in shown:
        done, count = progress[task.id]
        late = task.project.deadline < today
        meta = f"{task.department.name} · 截止 {format_date(task.project.deadline)} · 已通过 {done}/{count}"
        rows.append(Row(task.project.title, url_for("projects.view_task", task_id=task.id), meta=meta,
                        badge="已超期" if late else "进行中", state="bad" if late else "wait"))
    content = PanelContent(
        figures=[Figure("待完成的项目任务", int(total), url_for("projects.list_tasks")),
                 Figure("已超期", int(overdue), url_for("projects.list_tasks"), "bad" if overdue else "")],
        rows=rows, more_url=url_for("projects.list_tasks"), more_label="全部项目任务")
    if not rows:
        content.empty = "本科室没有待完成的医务项目任务。"
    return content


def build_reviews(user) -> PanelContent:
    """Submitted materials waiting for medical affairs' review, oldest first, each opening its approval."""
    stmt = (select(ProjectItem.id).join(ProjectTask, ProjectTask.id == ProjectItem.task_id)
            .join(Project, Project.id == ProjectTask.project_id)
            .where(ProjectItem.status == "submitted"))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    shown = (stmt.with_only_columns(ProjectItem.approval_id, ProjectItem.task_id, ProjectItem.submitted_at,
                                    Department.name, Material.name, Project.title)
             .join(Department, Department.id == ProjectTask.department_id)
             .join(Material, Material.id == ProjectItem.material_id)
             .order_by(ProjectItem.submitted_at, ProjectItem.id).limit(MAX_ROWS))
    rows = []
    for approval_id, task_id, submitted_at, department, material, title in db.session.execute(shown):
        url = (url_for("approvals.view_instance", instance_id=approval_id) if approval_id
               else url_for("projects.view_task", task_id=task_id))
        rows.append(Row(f"{department}：{material}", url, meta=f"{title} · 提交于 {format_date(submitted_at)}",
                        badge="待审核", state="wait"))
    content = PanelContent(figures=[Figure("待审核的项目材料", int(total), url_for("projects.list_projects"),
                                           "wait" if total else "")],
                           rows=rows, more_url=url_for("projects.list_projects"), more_label="全部医务项目")
    if not rows:
        content.empty = "没有等待审核的项目材料。"
    return content


register(Panel("projects.department_tasks", "医务项目任务", SUBMIT, "list", build_department_tasks, order=35,
               phone_priority=2))
register(Panel("projects.reviews", "项目材料待审核", MANAGE, "list", build_reviews, order=36, phone_priority=3))
