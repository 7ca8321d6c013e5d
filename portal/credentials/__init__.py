"""Credentials (资质授权): qualifications now, privileges and capability pages as further sub-areas.

Each sub-area is a package with its own views, forms and services (``qualifications/``); the models of every
sub-area live in the ``models`` package (``models/qualifications.py``).
"""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Process, Schedule, Step
from portal.core.permissions import register

bp = Blueprint("credentials", __name__, url_prefix="/credentials")

GROUP = "资质授权"
VIEW_QUALIFICATIONS = register("credentials.view_qualifications", "查看资质",
                               "查看数据范围内人员的资质、到期情况与历史", GROUP)
MANAGE_QUALIFICATIONS = register("credentials.manage_qualifications", "管理资质",
                                 "登记、暂停、恢复、撤销资质，批量导入资质", GROUP)
CONFIGURE_QUALIFICATIONS = register("credentials.configure_qualifications", "资质类型设置",
                                    "维护资质类型：是否有有效期、提醒天数、附件要求与级别", GROUP)
APPLY_QUALIFICATION = register("credentials.apply_qualification", "申请资质",
                               "查看本人资质，在线提交资质申请与证明材料", GROUP)

DOMAIN = Domain(
    name="credentials",
    label=GROUP,
    blueprints=[bp],
    models=["portal.credentials.models"],
    permissions=[VIEW_QUALIFICATIONS, MANAGE_QUALIFICATIONS, CONFIGURE_QUALIFICATIONS, APPLY_QUALIFICATION],
    grants={"ma_admin": [VIEW_QUALIFICATIONS, MANAGE_QUALIFICATIONS, CONFIGURE_QUALIFICATIONS, APPLY_QUALIFICATION],
            "ma_staff": [VIEW_QUALIFICATIONS, MANAGE_QUALIFICATIONS, APPLY_QUALIFICATION],
            "dept_head": [VIEW_QUALIFICATIONS, APPLY_QUALIFICATION],
            "dept_secretary": [VIEW_QUALIFICATIONS],
            "clinician": [APPLY_QUALIFICATION]},
    subjects=["portal.credentials.qualifications.services"],
    processes=[Process("qualification", "资质审批", "医务人员资质申请：科主任审核后由医务科审批", True,
                       [Step("科主任审核", "dept_head", hours=72), Step("医务科审批", "role", "ma_staff", hours=72)])],
    imports=["portal.credentials.qualifications.imports"],
    panels=["portal.credentials.panels"],
    nav=[NavEntry("医务管理", "资质管理", "credentials.list_qualifications", VIEW_QUALIFICATIONS, 20),
         NavEntry("医务管理", "资质类型", "credentials.list_qualification_types", CONFIGURE_QUALIFICATIONS, 22),
         NavEntry("工作台", "我的资质", "credentials.my_qualifications", APPLY_QUALIFICATION, 40)],
    schedules=[Schedule("qualification_expiry", "jobs.credentials.remind_qualification_expiry", cron="30 7 * * *")],
    audit_labels={"qualification": "资质", "qualification_type": "资质类型"},
    notify_categories={"credentials": "资质授权"},
    seed="portal.credentials.qualifications.services:ensure_qualification_types",
    demo="portal.credentials.demo:build",
    bench="bench.generate_credentials:generate",
)

# The routes of each sub-area register on `bp` when their module is imported.
from .qualifications import views as _qualification_views  # noqa: E402,F401
