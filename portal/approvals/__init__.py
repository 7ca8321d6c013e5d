"""The approval engine every domain uses for sign-off."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Schedule
from portal.core.permissions import SIGNED_IN, register

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

MANAGE_PROCESSES = register("approvals.manage", "审批流程配置", "维护审批流程的步骤、审批人规则、时限与委员会", "审批")
VIEW_ALL = register("approvals.view_all", "查看全部审批", "查看全院的审批事项（不限于本人参与的）", "审批")

DOMAIN = Domain(
    name="approvals",
    label="审批",
    blueprints=[bp],
    panels=["portal.approvals.panels"],
    models=["portal.approvals.models"],
    permissions=[MANAGE_PROCESSES, VIEW_ALL],
    grants={"ma_admin": [MANAGE_PROCESSES, VIEW_ALL], "ma_staff": [VIEW_ALL]},
    nav=[NavEntry("工作台", "待我审批", "approvals.list_todo", SIGNED_IN, 10),
         NavEntry("工作台", "我发起的", "approvals.list_mine", SIGNED_IN, 20),
         NavEntry("工作台", "已处理", "approvals.list_done", SIGNED_IN, 30),
         NavEntry("系统管理", "审批流程", "approvals.list_processes", MANAGE_PROCESSES, 45),
         NavEntry("系统管理", "委员会", "approvals.list_committees", MANAGE_PROCESSES, 46)],
    schedules=[
        # At :07, :22, :37, :52, never on :00/:30 when WeCom is busiest.
        Schedule("remind_overdue_approvals", "jobs.approvals.remind_overdue_approvals", cron="7,22,37,52 * * * *"),
    ],
    audit_labels={"approval_instance": "审批", "approval_process": "审批流程", "committee": "委员会"},
    bench_load="bench.load_approvals:load",
)

from . import process_views, views  # noqa: E402,F401
