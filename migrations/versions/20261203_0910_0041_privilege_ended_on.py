"""A superseded privilege keeps counting for the days before the record that replaced it starts: ended_on.

Revision ID: 0041
Revises: 0040
"""

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch rebuild on SQLite would drop the table's generation triggers.
    op.add_column("privileges", sa.Column("ended_on", sa.Date(), nullable=True))
    # The successor's first day (an approved record that supersedes it), never before the record's own start.
    op.execute("""
        UPDATE privileges SET ended_on = (
            SELECT CASE WHEN min(n.valid_from) > privileges.valid_from THEN min(n.valid_from)
                        ELSE privileges.valid_from END
            FROM privileges n
            WHERE n.supersedes_id = privileges.id
              AND n.status IN ('active', 'expired', 'suspended', 'revoked', 'superseded'))
        WHERE status = 'superseded'
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE privileges DROP COLUMN ended_on")  # no batch rebuild: the triggers stay
