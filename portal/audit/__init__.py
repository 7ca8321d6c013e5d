"""The auditor's pages: the audit log, the login log, and the chain check."""

from flask import Blueprint

from portal.auth.permissions import VIEW_AUDIT
from portal.core import nav

bp = Blueprint("audit", __name__, url_prefix="/audit")

nav.add("系统管理", "审计日志", "audit.list_audit_logs", VIEW_AUDIT, 50)
nav.add("系统管理", "登录日志", "audit.list_login_events", VIEW_AUDIT, 60)

from . import views  # noqa: E402,F401
