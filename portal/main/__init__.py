"""The home page and the health check."""

from flask import Blueprint

from portal.core.domains import Domain

bp = Blueprint("main", __name__)

DOMAIN = Domain(name="main", label="工作台", blueprints=[bp], bench_load="bench.load_main:load")

from . import views  # noqa: E402,F401
