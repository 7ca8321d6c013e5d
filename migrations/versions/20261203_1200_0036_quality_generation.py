"""Quality generation: one row, bumped by triggers on every write to the operations, their events and the outcome
summaries, so a worker may keep a surgeon's outcomes (the capability page's re-credentialing evidence) until one of
them changes.

Revision ID: 0036
Revises: 0034
Create Date: 2026-12-03 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0034"
branch_labels = None
depends_on = None

WATCHED = ("quality_surgeries", "quality_events", "quality_outcome_months", "quality_surgeon_outcome_months",
           "quality_grade_outcome_months")


def upgrade() -> None:
    op.create_table('quality_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_generation'))
    )
    op.execute("INSERT INTO quality_generation (id, value) VALUES (1, 0)")
    # A new value that never repeats (see privilege_generation): a value read inside a rolled-back transaction
    # can never match a later one. Per statement on PostgreSQL, so an import's COPY moves it once.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE quality_generation_seq")
        op.execute("CREATE FUNCTION bump_quality_generation() RETURNS trigger AS $$ BEGIN "
                   "UPDATE quality_generation SET value = nextval('quality_generation_seq') WHERE id = 1; "
                   "RETURN NULL; END $$ LANGUAGE plpgsql")
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER trg_{table}_qualgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_quality_generation()")
        return
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_{table}_qualgen_{event.lower()} AFTER {event} ON {table} "
                       "BEGIN UPDATE quality_generation SET value = random() WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_qualgen ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_quality_generation()")
        op.execute("DROP SEQUENCE IF EXISTS quality_generation_seq")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_qualgen_{event}")
    op.drop_table('quality_generation')
