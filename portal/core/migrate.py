"""Running Alembic from code (CLI, tests) against the portal's models."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection

from portal.config import ROOT


def metadata():
    """All models imported, so autogenerate sees every table."""
    import portal.models  # noqa: F401
    from portal.core.models import Base

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
