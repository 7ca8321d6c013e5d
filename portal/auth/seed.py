"""The seeded roles (data) and their default permissions (codes)."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db

from .models import Role, RolePermission

CM_MANAGER = ["casemgmt.view_patients", "casemgmt.enrol", "casemgmt.tasks", "casemgmt.ledger", "casemgmt.events"]
CM_SUPERVISOR = [*CM_MANAGER, "casemgmt.view_all", "casemgmt.reveal", "casemgmt.pathways", "casemgmt.assign",
                 "casemgmt.kpi", "io.import"]
CM_ISSUER = ["casemgmt.view_patients", "casemgmt.view_all", "casemgmt.plan", "casemgmt.kpi", "casemgmt.assess",
             "casemgmt.ledger", "io.import"]

# code: (name, data scope, description, default permissions)
ROLES: dict[str, tuple[str, str, str, list[str]]] = {
    "sysadmin": ("系统管理员", "all", "用户、角色、科室与系统设置（不含审计）",
                 ["admin.users", "admin.roles", "admin.departments", "staff.view", "staff.edit", "notify.outbox",
                  "io.import", "api.tokens"]),
    "auditor": ("审计员", "all", "查看审计日志与登录日志", ["audit.view"]),
    "ma_admin": ("医务科管理员", "all", "医务科负责人：资质、授权、审批流程与全院数据",
                 ["staff.view", "staff.edit", "approvals.manage", "approvals.view_all", "notify.outbox",
                  "supervision.view", "supervision.issue", "casemgmt.kpi", "casemgmt.assess", "casemgmt.view_all"]),
    "ma_staff": ("医务科干事", "all", "医务科工作人员",
                 ["staff.view", "approvals.view_all", "supervision.view", "supervision.issue"]),
    "committee": ("委员会委员", "all", "医疗技术临床应用管理委员会等委员", []),
    "dept_head": ("科主任", "own", "本科室的审批、资质与质量数据",
                  ["staff.view", "staff.edit", "supervision.view", "supervision.answer"]),
    "dept_secretary": ("科室秘书/质控员", "own", "本科室资料录入与质控",
                       ["staff.view", "supervision.view", "supervision.answer"]),
    "clinician": ("临床医师", "own", "本人资质与授权、业务学习", []),
    "cm_supervisor": ("个案管理组长", "all", "个案管理路径、任务分派与考核", ["staff.view", *CM_SUPERVISOR]),
    "case_manager": ("个案管理师", "own", "每日任务、服务台账", CM_MANAGER),
    "plan_issuer": ("全程管理中心", "all", "每日 17:00 前下达次日服务计划", CM_ISSUER),
}


def ensure_reference_data() -> dict[str, Role]:
    """Roles, approval processes and committees: everything a fresh database needs."""
    from portal.approvals.seed import ensure_processes

    roles = ensure_roles()
    ensure_processes()
    return roles


def ensure_roles() -> dict[str, Role]:
    """Create missing seeded roles; existing roles keep whatever an administrator has set."""
    existing = {r.code: r for r in db.session.scalars(select(Role))}
    for code, (name, scope, description, permissions) in ROLES.items():
        if code in existing:
            continue
        role = Role(code=code, name=name, data_scope=scope, description=description, is_system=True)
        role.grants = [RolePermission(permission=p) for p in permissions]
        db.session.add(role)
        existing[code] = role
    db.session.flush()
    return existing
