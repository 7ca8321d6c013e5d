"""Study generation: one row, moved by triggers on every write to the study plans, their sessions and records and
the departments, so a worker may keep the departments x months matrix until one of them changes.

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-04 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

WATCHED = ("study_plans", "study_sessions", "study_records", "departments")


def upgrade() -> None:
    op.create_table('study_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_study_generation'))
    )
    op.execute("INSERT INTO study_generation (id, value) VALUES (1, 0)")
    # A new value that never repeats (see privilege_generation): a value read inside a rolled-back transaction
    # can never match a later one. Per statement on PostgreSQL, so an import's COPY moves it once.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE study_generation_seq")
        op.execute("CREATE FUNCTION bump_study_generation() RETURNS trigger AS $$ BEGIN "
                   "UPDATE study_generation SET value = nextval('study_generation_seq') WHERE id = 1; "
                   "RETURN NULL; END $$ LANGUAGE plpgsql")
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER trg_{table}_studygen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_study_generation()")
        return
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_{table}_studygen_{event.lower()} AFTER {event} ON {table} "
                       "BEGIN UPDATE study_generation SET value = random() WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_studygen ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_study_generation()")
        op.execute("DROP SEQUENCE IF EXISTS study_generation_seq")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_studygen_{event}")
    op.drop_table('study_generation')
