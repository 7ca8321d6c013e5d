"""The one Excel framework: every import and export in the portal goes through here."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Schedule
from portal.core.permissions import register

# No URL prefix: imports live under /imports, finished export jobs under /exports.
bp = Blueprint("io", __name__)

IMPORT_DATA = register("io.import", "数据导入", "使用 Excel 导入数据（还需具备相应业务的维护权限）并查看导入日志",
                       "系统管理")

DOMAIN = Domain(
    name="io",
    label="数据导入导出",
    blueprints=[bp],
    models=["portal.io.models"],
    permissions=[IMPORT_DATA],
    grants={"sysadmin": [IMPORT_DATA]},
    nav=[NavEntry("系统管理", "导入日志", "io.list_import_logs", IMPORT_DATA, 80)],
    schedules=[
        # 03:41: original import files with personal data past PORTAL_IMPORT_ORIGINAL_DAYS are deleted.
        Schedule("purge_import_originals", "jobs.io.purge_import_originals", cron="41 3 * * *"),
        # Every minute: background jobs whose heartbeat stopped are failed and their users told.
        Schedule("sweep_jobs", "jobs.io.sweep_jobs", interval=60),
    ],
    audit_labels={"import_log": "数据导入"},
)

from . import views  # noqa: E402,F401
