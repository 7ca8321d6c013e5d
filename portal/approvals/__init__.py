"""The approval engine every domain uses for sign-off."""

from flask import Blueprint

from portal.core import nav
from portal.core.audit import register_entity
from portal.core.permissions import SIGNED_IN, register

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

MANAGE_PROCESSES = register("approvals.manage", "审批流程配置", "维护审批流程的步骤、审批人规则、时限与委员会", "审批")
VIEW_ALL = register("approvals.view_all", "查看全部审批", "查看全院的审批事项（不限于本人参与的）", "审批")

nav.add("工作台", "待我审批", "approvals.list_todo", SIGNED_IN, 10)
nav.add("工作台", "我发起的", "approvals.list_mine", SIGNED_IN, 20)
nav.add("工作台", "已处理", "approvals.list_done", SIGNED_IN, 30)
nav.add("系统管理", "审批流程", "approvals.list_processes", MANAGE_PROCESSES, 45)
nav.add("系统管理", "委员会", "approvals.list_committees", MANAGE_PROCESSES, 46)
register_entity("approval_instance", "审批")
register_entity("approval_process", "审批流程")
register_entity("committee", "委员会")

from . import process_views, views  # noqa: E402,F401
