"""Violations by kind in the list's order (kind, operation_date, id): a list of one kind in every state reads a page
of index entries instead of scanning every violation.

Revision ID: 0033
Revises: 0032
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quality_violations", schema=None) as batch_op:
        batch_op.create_index("ix_quality_violations_kind", ["kind", "operation_date", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quality_violations", schema=None) as batch_op:
        batch_op.drop_index("ix_quality_violations_kind")
