"""Privileges in the list's order (valid_to, id), so its pages read a few index entries instead of sorting all

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("privileges", schema=None) as batch_op:
        batch_op.create_index("ix_privileges_valid_to_id", ["valid_to", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privileges", schema=None) as batch_op:
        batch_op.drop_index("ix_privileges_valid_to_id")
