"""Departments say whether they are clinical: administrative and support departments (医务科, 财务科 ...) take no
part in the clinical programmes such as the study records matrix. Existing departments stay clinical.

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch copy: on SQLite a batch rebuilds the table and would drop its triggers (the
# sign-in cache's generation bump on departments).
def upgrade() -> None:
    op.add_column("departments", sa.Column("clinical", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    op.drop_column("departments", "clinical")
