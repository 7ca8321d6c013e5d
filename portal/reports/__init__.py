"""The report registry (报表): declared reports, their pages, exports, charts, print layout and archive.

A domain declares its reports in its own `reports.py` with `registry.register(Report(...))`;
see `portal/casemgmt/reports.py` for the file to copy.
"""

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")

from . import views  # noqa: E402,F401
