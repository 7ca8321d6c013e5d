"""report archive: generated runs of declared reports with their files

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:30:00
"""

from alembic import op
import sqlalchemy as sa
import portal.core.models


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_runs",
        sa.Column("report_code", sa.String(length=48), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("filter_text", sa.String(length=500), nullable=False),
        sa.Column("generated_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("schedule", sa.String(length=48), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"],
                                name=op.f("fk_report_runs_requested_by_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_runs")),
    )
    with op.batch_alter_table("report_runs", schema=None) as batch_op:
        batch_op.create_index("ix_report_runs_code_generated", ["report_code", "generated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_runs_requested_by_id"), ["requested_by_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_runs_requested_by_id"))
        batch_op.drop_index("ix_report_runs_code_generated")
    op.drop_table("report_runs")
