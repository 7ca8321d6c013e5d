"""Permissions of accounts, organisation and audit."""

from portal.core.permissions import register

MANAGE_USERS = register("admin.users", "用户管理", "新建、修改、停用用户，重置密码，解锁账户", "系统管理")
MANAGE_ROLES = register("admin.roles", "角色与权限", "维护角色及其权限、数据范围", "系统管理")
MANAGE_DEPARTMENTS = register("admin.departments", "科室管理", "维护医院—片区—科室—病区组织树", "系统管理")
VIEW_STAFF = register("staff.view", "查看人员", "查看数据范围内的人员档案", "人员")
EDIT_STAFF = register("staff.edit", "维护人员", "新建、修改数据范围内的人员档案", "人员")
VIEW_AUDIT = register("audit.view", "审计日志", "查看、筛选、导出审计日志与登录日志，校验日志链", "审计")
