"""budget spending months: expenditures summed per project, line and month, back-filled from the expenditures

Revision ID: 0032
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0030"
branch_labels = None
depends_on = None

# The same statement as portal/budget/execution/summary.py's rebuild_sql (a migration does not import the app).
BACKFILL = """
    INSERT INTO budget_spending_months (project_id, line_id, month, expenditures, committed, spent)
    SELECT project_id, line_id, {month}, count(*),
           coalesce(sum(CASE WHEN status = 'committed' THEN amount ELSE 0 END), 0),
           coalesce(sum(CASE WHEN status = 'spent' THEN amount ELSE 0 END), 0)
    FROM budget_expenditures
    GROUP BY 1, 2, 3"""


def upgrade() -> None:
    op.create_table(
        "budget_spending_months",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("expenditures", sa.Integer(), nullable=False),
        sa.Column("committed", sa.Numeric(14, 2), nullable=False),
        sa.Column("spent", sa.Numeric(14, 2), nullable=False),
        sa.ForeignKeyConstraint(["line_id"], ["budget_lines.id"],
                                name=op.f("fk_budget_spending_months_line_id_budget_lines"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["budget_projects.id"],
                                name=op.f("fk_budget_spending_months_project_id_budget_projects"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "line_id", "month", name=op.f("pk_budget_spending_months")),
    )
    with op.batch_alter_table("budget_spending_months", schema=None) as batch_op:
        batch_op.create_index("ix_budget_spending_months_month", ["month"], unique=False)
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(BACKFILL.format(month="date_trunc('month', spent_on)::date" if postgres
                               else "date(spent_on, 'start of month')"))


def downgrade() -> None:
    with op.batch_alter_table("budget_spending_months", schema=None) as batch_op:
        batch_op.drop_index("ix_budget_spending_months_month")
    op.drop_table("budget_spending_months")
