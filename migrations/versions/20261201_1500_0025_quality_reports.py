"""quality surgery reports: monthly surgery summaries per department and per surgeon

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_surgery_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("surgeries", sa.Integer(), nullable=False),
        sa.Column("grade1", sa.Integer(), nullable=False),
        sa.Column("grade2", sa.Integer(), nullable=False),
        sa.Column("grade3", sa.Integer(), nullable=False),
        sa.Column("grade4", sa.Integer(), nullable=False),
        sa.Column("surgery", sa.Integer(), nullable=False),
        sa.Column("interventional", sa.Integer(), nullable=False),
        sa.Column("mi", sa.Integer(), nullable=False),
        sa.Column("emergency", sa.Integer(), nullable=False),
        sa.Column("elective", sa.Integer(), nullable=False),
        sa.Column("limited", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "department_id", name=op.f("pk_quality_surgery_months")),
    )
    op.create_table(
        "quality_surgeon_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("surgeon_id", sa.Integer(), nullable=False),
        sa.Column("surgeries", sa.Integer(), nullable=False),
        sa.Column("grade1", sa.Integer(), nullable=False),
        sa.Column("grade2", sa.Integer(), nullable=False),
        sa.Column("grade3", sa.Integer(), nullable=False),
        sa.Column("grade4", sa.Integer(), nullable=False),
        sa.Column("surgery", sa.Integer(), nullable=False),
        sa.Column("interventional", sa.Integer(), nullable=False),
        sa.Column("mi", sa.Integer(), nullable=False),
        sa.Column("emergency", sa.Integer(), nullable=False),
        sa.Column("elective", sa.Integer(), nullable=False),
        sa.Column("limited", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "department_id", "surgeon_id", name=op.f("pk_quality_surgeon_months")),
    )
    with op.batch_alter_table("quality_surgeon_months", schema=None) as batch_op:
        batch_op.create_index("ix_quality_surgeon_months_surgeon", ["surgeon_id", "month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quality_surgeon_months", schema=None) as batch_op:
        batch_op.drop_index("ix_quality_surgeon_months_surgeon")
    op.drop_table("quality_surgeon_months")
    op.drop_table("quality_surgery_months")
