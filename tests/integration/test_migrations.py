"""Migrations and models agree, on the back end under test; upgrade and downgrade both work."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from portal.core import migrate
from portal.extensions import make_engine
from tests.backends import fresh_database


def test_upgrade_head_matches_the_models_and_downgrade_returns_to_empty(tmp_path):
    with fresh_database(tmp_path, "migrations") as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                assert compare_metadata(context, migrate.metadata()) == []
                assert {"users", "roles", "departments", "staff", "audit_logs"} <= set(inspect(conn).get_table_names())
            migrate.downgrade(url, "base")
            with engine.connect() as conn:
                assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            migrate.upgrade(url)
            with engine.connect() as conn:
                assert "users" in inspect(conn).get_table_names()
        finally:
            engine.dispose()


def test_migration_file_names_follow_the_convention():
    import re

    from portal.config import ROOT

    names = [p.name for p in (ROOT / "migrations" / "versions").glob("*.py")]
    assert names
    assert all(re.fullmatch(r"\d{8}_\d{4}_[0-9a-z]+_[0-9a-z_]+\.py", n) for n in names), names
