"""supervision findings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:26:19.479411
"""

from alembic import op
import sqlalchemy as sa
import portal.core.models


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervision_findings",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rectification", sa.Text(), nullable=False),
        sa.Column("answered_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["approval_instances.id"],
            name=op.f("fk_supervision_findings_approval_id_approval_instances"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_supervision_findings_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_supervision_findings_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_findings")),
    )
    with op.batch_alter_table("supervision_findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supervision_findings_deadline"), ["deadline"], unique=False)
        batch_op.create_index(batch_op.f("ix_supervision_findings_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_supervision_findings_status"), ["status"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("supervision_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervision_findings_status"))
        batch_op.drop_index(batch_op.f("ix_supervision_findings_department_id"))
        batch_op.drop_index(batch_op.f("ix_supervision_findings_deadline"))

    op.drop_table("supervision_findings")
