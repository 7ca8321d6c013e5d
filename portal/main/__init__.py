"""The home page, the health check, and the working-day calendar's administration (工作日历)."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry
from portal.core.permissions import register

bp = Blueprint("main", __name__)

WORKDAYS = register("admin.workdays", "维护工作日历", "录入下一年度的法定节假日与调休安排（覆盖内置日历）", "系统管理")

DOMAIN = Domain(name="main", label="工作台", blueprints=[bp], models=["portal.core.workdays"],
                permissions=[WORKDAYS], grants={"sysadmin": [WORKDAYS], "ma_admin": [WORKDAYS]},
                nav=[NavEntry("系统管理", "工作日历", "main.list_workdays", WORKDAYS, 60)],
                audit_labels={"workday_adjustment": "工作日历"}, bench_load="bench.load_main:load")

from . import views, workdays  # noqa: E402,F401
