"""The seeded roles (data); their default permissions are the union of the installed domains' grants."""

from __future__ import annotations

from sqlalchemy import select

from portal.core import domains
from portal.extensions import db

from .models import Role, RolePermission

# code: (name, data scope, description)
ROLES: dict[str, tuple[str, str, str]] = {
    "sysadmin": ("系统管理员", "all", "用户、角色、科室与系统设置（不含审计）"),
    "auditor": ("审计员", "all", "查看审计日志与登录日志"),
    "ma_admin": ("医务科管理员", "all", "医务科负责人：资质、授权、审批流程与全院数据"),
    "ma_staff": ("医务科干事", "all", "医务科工作人员"),
    "committee": ("委员会委员", "all", "医疗技术临床应用管理委员会等委员"),
    "dept_head": ("科主任", "own", "本科室的审批、资质与质量数据"),
    "dept_secretary": ("科室秘书/质控员", "own", "本科室资料录入与质控"),
    "clinician": ("临床医师", "own", "本人资质与授权、业务学习"),
    "cm_supervisor": ("个案管理组长", "all", "个案管理路径、任务分派与考核"),
    "case_manager": ("个案管理师", "own", "每日任务、服务台账"),
    "plan_issuer": ("全程管理中心", "all", "每日 17:00 前下达次日服务计划"),
}


def ensure_reference_data() -> dict[str, Role]:
    """Roles, approval processes, committees and the domains' reference data: everything a fresh database needs."""
    from portal.approvals.seed import ensure_processes

    roles = ensure_roles()
    ensure_processes()
    domains.seed_reference_data()
    return roles


def ensure_roles() -> dict[str, Role]:
    """Create missing seeded roles; existing roles keep whatever an administrator has set."""
    grants = domains.default_grants()
    existing = {r.code: r for r in db.session.scalars(select(Role))}
    for code, (name, scope, description) in ROLES.items():
        if code in existing:
            continue
        role = Role(code=code, name=name, data_scope=scope, description=description, is_system=True)
        role.grants = [RolePermission(permission=p) for p in sorted(grants.get(code, ()))]
        db.session.add(role)
        existing[code] = role
    db.session.flush()
    return existing
