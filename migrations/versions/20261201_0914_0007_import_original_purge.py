"""import originals: when an original file was purged after its retention period

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:14:00
"""

from alembic import op
import sqlalchemy as sa
import portal.core.models


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_purged_at", portal.core.models.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_logs", schema=None) as batch_op:
        batch_op.drop_column("original_purged_at")
