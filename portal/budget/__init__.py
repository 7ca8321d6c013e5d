"""Key-project budgets (项目预算管理): budgets with lines and versions, expenditures, execution and warnings,
budget changes through the approval engine, and final accounts.

Who sees a project's money: budget.view scoped by department (the owner department's head and secretary;
medical affairs with their hospital-wide scope). A finance office is a role an administrator creates with
hospital-wide data scope and budget.view (plus budget.manage to enter expenditures); no built-in role is added.
"""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Process, Schedule, Step
from portal.core.permissions import register

bp = Blueprint("budget", __name__, url_prefix="/budget")

GROUP = "项目预算"
VIEW = register("budget.view", "查看项目预算", "查看数据范围内重点项目的预算、支出与执行情况", GROUP)
MANAGE = register("budget.manage", "管理项目预算", "建立重点项目预算、登记与导入支出、决算", GROUP)
CHANGE = register("budget.change", "申请预算调整", "为数据范围内的重点项目申请追加预算或科目间调剂", GROUP)

DOMAIN = Domain(
    name="budget",
    label=GROUP,
    blueprints=[bp],
    models=["portal.budget.models"],
    permissions=[VIEW, MANAGE, CHANGE],
    grants={"ma_admin": [VIEW, MANAGE, CHANGE], "ma_staff": [VIEW, MANAGE, CHANGE], "dept_head": [VIEW, CHANGE],
            "dept_secretary": [VIEW]},
    subjects=["portal.budget.changes.services", "portal.budget.expenditures.services"],
    processes=[
        Process("budget_change", "预算调整", "重点项目追加预算或科目间调剂", True,
                [Step("科主任审核", "dept_head", hours=72), Step("医务科审批", "role", "ma_admin", hours=72)]),
        Process("budget_overspend", "超预算支出", "超过预算科目余额的支出（项目设置需审批时）", True,
                [Step("科主任审核", "dept_head", hours=48), Step("医务科审批", "role", "ma_admin", hours=48)]),
    ],
    imports=["portal.budget.expenditures.imports"],
    reports=["portal.budget.reports"],
    panels=["portal.budget.panels"],
    nav=[NavEntry("医务管理", "项目预算", "budget.dashboard", VIEW, 70)],
    schedules=[Schedule("budget_ahead_of_time", "jobs.budget.check_ahead_of_time", cron="30 7 * * *")],
    audit_labels={"budget_project": "重点项目预算", "budget_change": "预算调整", "budget_expenditure": "项目支出"},
    notify_categories={"budget": "项目预算"},
    demo="portal.budget.demo:build",
    bench="bench.generate_budget:generate",
    bench_load="bench.load_budget:load",
    summaries="portal.budget.execution.summary:rebuild",
)

from .changes import views as _change_views  # noqa: E402,F401
from .expenditures import views as _expenditure_views  # noqa: E402,F401
from .projects import views as _project_views  # noqa: E402,F401
