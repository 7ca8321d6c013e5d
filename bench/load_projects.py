"""Medical-affairs projects: medical affairs' project list and a progress matrix, a department head's tasks."""

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.projects.models import Project, ProjectTask

    with ctx.app.app_context():
        # The matrix of a large in-progress project (every department, every state) and the newest closed one.
        open_project = db.session.scalar(select(Project.id).where(Project.status == "published")
                                         .order_by(Project.id.desc()).limit(1))
        closed_project = db.session.scalar(select(Project.id).where(Project.status == "closed")
                                           .order_by(Project.id.desc()).limit(1))
        head_task = None
        if "bh000" in ctx.sessions:
            from portal.auth.models import Staff, User

            dept = db.session.scalar(select(Staff.department_id).join(User, User.staff_id == Staff.id)
                                     .where(User.login_name == "bh000"))
            head_task = db.session.scalar(select(func.max(ProjectTask.id)).where(ProjectTask.department_id == dept))
    ma = ctx.cookie("bma")
    pages = [Page("projects: list", 3, [Request("projects: list", "/projects", ma)]),
             Page("projects: search", 1, [Request("projects: search", "/projects?q=%E8%B4%A8%E9%87%8F&status=closed",
                                                  ma)]),
             Page("projects: templates", 1, [Request("projects: templates", "/projects/templates", ma)])]
    matrices = [Request("projects: progress matrix", f"/projects/{pid}", ma) for pid in (open_project, closed_project)
                if pid]
    if matrices:
        pages.append(Page("projects: progress matrix", 2, matrices))
    if "bh000" in ctx.sessions:
        head = ctx.cookie("bh000")
        pages.append(Page("projects: department tasks", 3, [Request("projects: department tasks", "/projects/tasks",
                                                                    head)]))
        if head_task:
            pages.append(Page("projects: department task", 2, [Request(
                "projects: department task", f"/projects/tasks/{head_task}", head)]))
    return Load(pages=pages)
