"""The auditor's pages: the audit log, the login log, and the chain check."""

from flask import Blueprint

from portal.auth.permissions import VIEW_AUDIT
from portal.core.domains import Domain, NavEntry, Schedule

bp = Blueprint("audit", __name__, url_prefix="/audit")

DOMAIN = Domain(
    name="audit",
    label="审计",
    blueprints=[bp],
    permissions=[VIEW_AUDIT],
    grants={"auditor": [VIEW_AUDIT]},
    exports=["portal.audit.exports"],
    nav=[NavEntry("系统管理", "审计日志", "audit.list_audit_logs", VIEW_AUDIT, 50),
         NavEntry("系统管理", "登录日志", "audit.list_login_events", VIEW_AUDIT, 60)],
    schedules=[
        # 02:17: quiet hours, and away from :00/:30 when many systems run their jobs.
        # Verifies the audit chain against every anchor, then anchors its head outside the database.
        Schedule("verify_audit_chain", "jobs.audit.verify_audit_chain", cron="17 2 * * *"),
    ],
    bench="bench.generate_audit:generate",
    bench_load="bench.load_audit:load",
)

from . import views  # noqa: E402,F401
