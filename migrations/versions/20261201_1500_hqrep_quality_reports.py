"""quality surgery reports: monthly surgery summary

Revision ID: hqrep01
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "hqrep01"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_surgery_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("surgeon_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("minimally_invasive", sa.Boolean(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("day_surgery", sa.Boolean(), nullable=False),
        sa.Column("surgeries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "department_id", "surgeon_id", "grade", "kind", "minimally_invasive",
                                "urgency", "day_surgery", name=op.f("pk_quality_surgery_months")),
    )
    with op.batch_alter_table("quality_surgery_months", schema=None) as batch_op:
        batch_op.create_index("ix_quality_surgery_months_surgeon", ["surgeon_id", "month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quality_surgery_months", schema=None) as batch_op:
        batch_op.drop_index("ix_quality_surgery_months_surgeon")
    op.drop_table("quality_surgery_months")
