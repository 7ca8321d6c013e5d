"""Running Alembic from code (CLI, tests) against the portal's models."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection

from portal.config import ROOT


def metadata():
    """Every installed domain's models imported, so autogenerate sees every table."""
    from portal.core import audit  # noqa: F401  (the audit log is the core's own table)
    from portal.core.domains import model_modules
    from portal.core.models import Base

    model_modules()
    return Base.metadata


def alembic_config(url: str | None = None, connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.attributes["database_url"] = url
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def url_from_config(cfg: AlembicConfig) -> str:
    url = cfg.attributes.get("database_url")
    if url:
        return url
    from portal.config import Config

    return Config.DATABASE_URL


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
