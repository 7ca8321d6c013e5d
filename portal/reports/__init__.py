"""The report registry (报表): declared reports, their pages, exports, charts, print layout and archive.

A domain declares its reports in its own `reports.py` with `registry.register(Report(...))` and names
that module in its declaration (`reports=[...]`); see `portal/casemgmt/reports.py` for the file to copy.
"""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Schedule
from portal.core.permissions import SIGNED_IN

bp = Blueprint("reports", __name__, url_prefix="/reports")

DOMAIN = Domain(
    name="reports",
    label="报表",
    blueprints=[bp],
    models=["portal.reports.models"],
    nav=[NavEntry("工作台", "报表", "reports.list_reports", SIGNED_IN, 50)],
    schedules=[
        # 06:23 every day: last month's reports go to the archive once (the job skips those already there).
        Schedule("archive_monthly_reports", "jobs.reports.archive_monthly_reports", cron="23 6 * * *"),
    ],
    audit_labels={"report": "报表", "report_run": "报表存档"},
    bench_load="bench.load_reports:load",
)

from . import views  # noqa: E402,F401
