"""Medical-affairs projects (医务项目管理) and the template library (模板管理).

Medical affairs publishes a project with its required materials to target departments; each department
uploads and submits its materials, which medical affairs passes or returns through the approval engine.
"""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Process, Schedule, Step
from portal.core.permissions import register

bp = Blueprint("projects", __name__, url_prefix="/projects")

GROUP = "医务项目"
VIEW = register("projects.view", "查看医务项目", "查看医务项目、本科室的项目任务与模板库", GROUP)
MANAGE = register("projects.manage", "发布医务项目", "新建、发布、关闭医务项目，查看进度矩阵并下载归档", GROUP)
SUBMIT = register("projects.submit", "提交项目材料", "本科室为项目任务上传并提交材料", GROUP)
TEMPLATES = register("projects.templates", "维护模板库", "新增模板分类、上传模板与新版本", GROUP)

DOMAIN = Domain(
    name="projects",
    label=GROUP,
    blueprints=[bp],
    models=["portal.projects.models"],
    permissions=[VIEW, MANAGE, SUBMIT, TEMPLATES],
    grants={"ma_admin": [VIEW, MANAGE, TEMPLATES], "ma_staff": [VIEW, MANAGE, TEMPLATES],
            "dept_head": [VIEW, SUBMIT], "dept_secretary": [VIEW, SUBMIT]},
    subjects=["portal.projects.tasks.services"],
    processes=[Process("project_material", "项目材料审核", "医务项目中科室提交材料的审核", False,
                       [Step("医务科审核", "role", "ma_staff", hours=120)])],
    panels=["portal.projects.panels"],
    nav=[NavEntry("医务管理", "医务项目", "projects.list_projects", MANAGE, 55),
         NavEntry("医务管理", "项目任务", "projects.list_tasks", SUBMIT, 56),
         NavEntry("医务管理", "模板库", "projects.list_templates", VIEW, 57)],
    schedules=[Schedule("remind_overdue_project_tasks", "jobs.projects.remind_overdue", cron="30 8 * * *"),
               Schedule("purge_project_archives", "jobs.projects.purge_archives", cron="40 3 * * *")],
    audit_labels={"project": "医务项目", "project_task": "项目任务", "project_item": "项目材料",
                  "project_template": "模板", "project_template_category": "模板分类", "project_archive": "项目归档"},
    notify_categories={"projects": "医务项目"},
    demo="portal.projects.demo:build",
    bench="bench.generate_projects:generate",
    bench_load="bench.load_projects:load",
)

from .projects import views as _project_views  # noqa: E402,F401
from .tasks import views as _task_views  # noqa: E402,F401
from .templates import views as _template_views  # noqa: E402,F401
