"""task attempts: "not reached" keeps a task open with an attempt count; declined and unreached are own states

Existing tasks closed as "not reached" become "unreached" (closed, not flagged: they are history);
declined tasks get the state "declined".

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:20:00
"""

from alembic import op
import sqlalchemy as sa
import portal.core.models


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("care_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("last_attempt_at", portal.core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("flagged_at", portal.core.models.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE care_tasks SET status = 'declined' WHERE status = 'done' AND outcome = 'declined'")
    op.execute("UPDATE care_tasks SET status = 'unreached', attempts = 1 "
               "WHERE status = 'done' AND outcome = 'not_reached'")


def downgrade():
    op.execute("UPDATE care_tasks SET status = 'done' WHERE status IN ('declined', 'unreached')")
    with op.batch_alter_table("care_tasks", schema=None) as batch_op:
        batch_op.drop_column("flagged_at")
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("attempts")
