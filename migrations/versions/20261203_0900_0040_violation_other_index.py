"""Violations by the other surgery of an overlap: a correction re-evaluates the other side without a scan.

Revision ID: 0040
Revises: 0034
"""

from alembic import op

revision = "0040"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_quality_violations_other", "quality_violations", ["other_surgery_id"])


def downgrade() -> None:
    op.drop_index("ix_quality_violations_other", table_name="quality_violations")
