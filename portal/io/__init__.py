"""The one Excel framework: every import and export in the portal goes through here."""

from flask import Blueprint

from portal.core import nav
from portal.core.permissions import register

# No URL prefix: imports live under /imports, finished export jobs under /exports.
bp = Blueprint("io", __name__)

IMPORT_DATA = register("io.import", "数据导入", "使用 Excel 导入数据（还需具备相应业务的维护权限）并查看导入日志",
                       "系统管理")

nav.add("系统管理", "导入日志", "io.list_import_logs", IMPORT_DATA, 80)
from . import views  # noqa: E402,F401
