"""The audit and login log exports (with the filters of the page they are started from)."""

from __future__ import annotations

from portal.auth.models import LOGIN_EVENTS
from portal.auth.permissions import VIEW_AUDIT
from portal.core import audit, labels
from portal.core.listing import arg_choice, arg_date, arg_str, bad_request
from portal.core.timeutil import format_date
from portal.io.export import Column, ExportSpec, register_export

from .queries import AuditFilters, LoginFilters, audit_query, login_query

# The logs' filters as an export's header reads them (core.labels registry).
labels.register_filters("audit_log", {"user": "操作人", "entity_id": "对象编号"},
                        {"entity_type": audit.ENTITY_TYPES, "action": audit.ACTIONS})
labels.register_filters("login_event", {"login_name": "登录名", "ip": "IP 地址"}, {"event": LOGIN_EVENTS})


def audit_filters() -> AuditFilters:
    f = AuditFilters(date_from=arg_date("date_from"), date_to=arg_date("date_to"), user=arg_str("user", 64),
                     entity_type=arg_choice("entity_type", audit.ENTITY_TYPES), entity_id=arg_str("entity_id", 64),
                     action=arg_choice("action", audit.ACTIONS))
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise bad_request("开始日期不能晚于结束日期")
    return f


def filter_args(f) -> dict:
    return {k: (format_date(v) if hasattr(v, "isoformat") else v) for k, v in vars(f).items()}


def login_filters() -> LoginFilters:
    f = LoginFilters(date_from=arg_date("date_from"), date_to=arg_date("date_to"),
                     login_name=arg_str("login_name", 64), event=arg_choice("event", LOGIN_EVENTS),
                     ip=arg_str("ip", 64))
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise bad_request("开始日期不能晚于结束日期")
    return f


AUDIT_COLUMNS = [
    Column("编号", lambda r: r.id, 10),
    Column("时间", lambda r: r.created_at, 18),
    Column("操作人", lambda r: r.user_name, 12),
    Column("IP", lambda r: r.ip, 16),
    Column("对象类型", lambda r: r.entity_type_label, 12),
    Column("对象编号", lambda r: r.entity_id, 10),
    Column("对象", lambda r: r.entity_label, 20),
    Column("操作", lambda r: r.action_label, 10),
    Column("变更内容", lambda r: labels.changes_text(r.entity_type, r.changes), 60),
    Column("记录哈希", lambda r: r.hash, 66),
]


def _audit_export(user, args) -> ExportSpec:
    f = audit_filters()
    return ExportSpec(audit_query(f), AUDIT_COLUMNS, "审计日志", "audit_log", filter_args(f))


register_export("audit_log", _audit_export, VIEW_AUDIT)


LOGIN_COLUMNS = [
    Column("时间", lambda r: r.created_at, 18),
    Column("登录名", lambda r: r.login_name, 14),
    Column("事件", lambda r: r.event_label, 14),
    Column("IP", lambda r: r.ip, 16),
    Column("终端", lambda r: r.user_agent, 50),
    Column("说明", lambda r: r.detail, 24),
]


def _login_export(user, args) -> ExportSpec:
    f = login_filters()
    return ExportSpec(login_query(f), LOGIN_COLUMNS, "登录日志", "login_event", filter_args(f))


register_export("login_event", _login_export, VIEW_AUDIT)
