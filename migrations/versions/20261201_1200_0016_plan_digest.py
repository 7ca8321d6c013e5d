"""plans.submission_digest: the last API submission applied to a plan, so an identical resubmission is answered
with one query

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(sa.Column("submission_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("submission_digest")
