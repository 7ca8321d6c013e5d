"""Budget generation: one row, moved by triggers on every write to the budget projects, lines, expenditures and
their monthly sums, so a worker may keep the spending report's result until one of them changes.

Revision ID: 0050
Revises: 0047
Create Date: 2026-12-05 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0050"
down_revision = "0047"
branch_labels = None
depends_on = None

WATCHED = ("budget_projects", "budget_lines", "budget_expenditures", "budget_spending_months")


def upgrade() -> None:
    op.create_table('budget_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_generation'))
    )
    op.execute("INSERT INTO budget_generation (id, value) VALUES (1, 0)")
    # A new value that never repeats (see privilege_generation): a value read inside a rolled-back transaction
    # can never match a later one. Per statement on PostgreSQL, so an import's COPY moves it once.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE budget_generation_seq")
        op.execute("CREATE FUNCTION bump_budget_generation() RETURNS trigger AS $$ BEGIN "
                   "UPDATE budget_generation SET value = nextval('budget_generation_seq') WHERE id = 1; "
                   "RETURN NULL; END $$ LANGUAGE plpgsql")
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER trg_{table}_budgetgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_budget_generation()")
        return
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_{table}_budgetgen_{event.lower()} AFTER {event} ON {table} "
                       "BEGIN UPDATE budget_generation SET value = random() WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_budgetgen ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_budget_generation()")
        op.execute("DROP SEQUENCE IF EXISTS budget_generation_seq")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_budgetgen_{event}")
    op.drop_table('budget_generation')
