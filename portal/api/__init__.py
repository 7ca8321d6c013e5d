"""/api/v1: JSON endpoints for other hospital systems (HIS, HR), authenticated by bearer tokens."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
