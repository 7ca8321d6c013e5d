"""Credentials (资质授权): qualifications and privileges (with the interception check HIS calls); capability
pages as a further sub-area.

Each sub-area is a package with its own views, forms and services (``qualifications/``, ``privileges/``); the
models of every sub-area live in the ``models`` package.
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
VIEW_PRIVILEGES = register("credentials.view_privileges", "查看授权",
                           "查看数据范围内人员的授权、到期、超权限拦截与紧急授权；接口：授权校验与同步", GROUP)
MANAGE_PRIVILEGES = register("credentials.manage_privileges", "管理授权", "登记已批准的授权，查看全院授权台账", GROUP)
APPLY_PRIVILEGE = register("credentials.apply_privilege", "申请授权", "查看本人授权，在线申请授权与再授权", GROUP)
APPLY_DEPARTMENT = register("credentials.apply_department_privileges", "科室授权申请与调整",
                            "为本科室人员批量申请授权，提出暂停、恢复、撤销、缩小、延长、升降级", GROUP)
CONFIRM_OVERRIDES = register("credentials.confirm_overrides", "确认紧急授权", "24 小时内确认本科室的紧急超权限手术",
                             GROUP)
CONFIGURE_RULES = register("credentials.configure_privilege_rules", "授权准入条件",
                           "维护各级手术的准入条件（职称、年限、培训、证书）", GROUP)
PRIVILEGES = [VIEW_PRIVILEGES, MANAGE_PRIVILEGES, APPLY_PRIVILEGE, APPLY_DEPARTMENT, CONFIRM_OVERRIDES,
              CONFIGURE_RULES]
_HEAD = [Step("科主任审核", "dept_head", hours=72), Step("医务科审批", "role", "ma_staff", hours=72)]

DOMAIN = Domain(
    name="credentials",
    label=GROUP,
    blueprints=[bp],
    models=["portal.credentials.models"],
    permissions=[VIEW_QUALIFICATIONS, MANAGE_QUALIFICATIONS, CONFIGURE_QUALIFICATIONS, APPLY_QUALIFICATION,
                 *PRIVILEGES],
    # Medical affairs loads the existing qualifications from Excel: the import pages need io.import as well.
    grants={"ma_admin": [VIEW_QUALIFICATIONS, MANAGE_QUALIFICATIONS, CONFIGURE_QUALIFICATIONS, APPLY_QUALIFICATION,
                         VIEW_PRIVILEGES, MANAGE_PRIVILEGES, APPLY_PRIVILEGE, APPLY_DEPARTMENT, CONFIGURE_RULES,
                         "io.import"],
            "ma_staff": [VIEW_QUALIFICATIONS, MANAGE_QUALIFICATIONS, APPLY_QUALIFICATION, VIEW_PRIVILEGES,
                         MANAGE_PRIVILEGES, APPLY_PRIVILEGE, APPLY_DEPARTMENT, "io.import"],
            "dept_head": [VIEW_QUALIFICATIONS, APPLY_QUALIFICATION, VIEW_PRIVILEGES, APPLY_PRIVILEGE, APPLY_DEPARTMENT,
                          CONFIRM_OVERRIDES],
            "dept_secretary": [VIEW_QUALIFICATIONS, VIEW_PRIVILEGES, APPLY_DEPARTMENT],
            "clinician": [APPLY_QUALIFICATION, APPLY_PRIVILEGE]},
    subjects=["portal.credentials.qualifications.services", "portal.credentials.privileges.services"],
    processes=[Process("qualification", "资质审批", "医务人员资质申请：科主任审核后由医务科审批", True, _HEAD),
               Process("privilege_grant", "授权审批", "手术与技术授权的申请和调整：科主任审核后由医务科审批", True,
                       _HEAD),
               Process("privilege_committee", "授权审批（委员会）",
                       "四级手术、限制类技术与新技术的授权及调整：科主任、医务科后由技术临床应用管理委员会审议", True,
                       [*_HEAD, Step("技术管理委员会审议", "committee", "tech", "any", hours=168)])],
    imports=["portal.credentials.qualifications.imports", "portal.credentials.privileges.imports"],
    exports=["portal.credentials.qualifications.views"],
    panels=["portal.credentials.panels", "portal.credentials.privileges.panels"],
    reports=["portal.credentials.capability.reports"],
    api=["portal.credentials.privileges.api"],
    nav=[NavEntry("医务管理", "资质管理", "credentials.list_qualifications", VIEW_QUALIFICATIONS, 20),
         NavEntry("医务管理", "资质类型", "credentials.list_qualification_types", CONFIGURE_QUALIFICATIONS, 22),
         NavEntry("工作台", "我的资质", "credentials.my_qualifications", APPLY_QUALIFICATION, 40),
         NavEntry("医务管理", "授权管理", "credentials.list_privileges", VIEW_PRIVILEGES, 24),
         NavEntry("医务管理", "超权限拦截", "credentials.list_alerts", VIEW_PRIVILEGES, 25),
         NavEntry("医务管理", "授权准入条件", "credentials.list_rules", CONFIGURE_RULES, 26),
         NavEntry("工作台", "我的授权", "credentials.my_privileges", APPLY_PRIVILEGE, 41),
         NavEntry("医务管理", "能力展示", "credentials.department_capability", VIEW_PRIVILEGES, 27),
         NavEntry("工作台", "我的能力", "credentials.my_capability", APPLY_PRIVILEGE, 42)],
    schedules=[Schedule("qualification_expiry", "jobs.credentials.remind_qualification_expiry", cron="30 7 * * *"),
               Schedule("privilege_expiry", "jobs.credentials.remind_privilege_expiry", cron="35 7 * * *"),
               Schedule("privilege_alerts", "jobs.credentials.notify_privilege_alerts", interval=60)],
    audit_labels={"qualification": "资质", "qualification_type": "资质类型", "privilege_rule": "授权准入条件",
                  "privilege_override": "紧急授权"},
    notify_categories={"credentials": "资质授权"},
    seed="portal.credentials.qualifications.services:ensure_qualification_types",
    demo="portal.credentials.demo:build",
    bench="bench.generate_credentials:generate",
    bench_load="bench.load_credentials:load",
)

# The routes of each sub-area register on `bp` when their module is imported.
from .capability import views as _capability_views  # noqa: E402,F401
from .privileges import views as _privilege_views  # noqa: E402,F401
from .qualifications import views as _qualification_views  # noqa: E402,F401
