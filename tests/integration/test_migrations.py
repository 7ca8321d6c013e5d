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


def test_upgrading_an_existing_database_grants_the_new_permissions_to_its_builtin_roles(tmp_path):
    from sqlalchemy import text

    with fresh_database(tmp_path, "grants") as url:
        migrate.upgrade(url, "0005")
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                for code, system in (("case_manager", True), ("plan_issuer", True), ("custom_cm", False)):
                    conn.execute(text("INSERT INTO roles (code, name, description, data_scope, is_system, created_at,"
                                      " updated_at) VALUES (:c, :c, '', 'own', :s, :t, :t)"),
                                 {"c": code, "s": system, "t": "2026-01-01 00:00:00"})
                conn.execute(text("INSERT INTO role_permissions (role_id, permission) SELECT id, 'casemgmt.tasks'"
                                  " FROM roles WHERE code = 'case_manager'"))  # already held: not doubled
            migrate.upgrade(url)
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT r.code, p.permission FROM role_permissions p JOIN roles r"
                                         " ON r.id = p.role_id")).all()
        finally:
            engine.dispose()
    held: dict[str, list[str]] = {}
    for code, permission in rows:
        held.setdefault(code, []).append(permission)
    assert sorted(held["case_manager"]) == sorted(["casemgmt.view_patients", "casemgmt.enrol", "casemgmt.tasks",
                                                   "casemgmt.ledger", "casemgmt.events"])
    assert "casemgmt.plan" in held["plan_issuer"] and "io.import" in held["plan_issuer"]
    assert "custom_cm" not in held  # roles an administrator made are left alone
