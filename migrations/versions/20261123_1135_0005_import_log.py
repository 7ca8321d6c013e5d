"""import log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 11:35:44.132028
"""

from alembic import op
import sqlalchemy as sa
import portal.core.models


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_logs",
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("import_type", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_new", sa.Integer(), nullable=False),
        sa.Column("rows_updated", sa.Integer(), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), nullable=False),
        sa.Column("rows_deleted", sa.Integer(), nullable=False),
        sa.Column("rows_invalid", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_import_logs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_logs")),
    )
    with op.batch_alter_table("import_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_logs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_logs_import_type"), ["import_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_logs_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_logs_user_id"), ["user_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("import_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_logs_user_id"))
        batch_op.drop_index(batch_op.f("ix_import_logs_sha256"))
        batch_op.drop_index(batch_op.f("ix_import_logs_import_type"))
        batch_op.drop_index(batch_op.f("ix_import_logs_created_at"))

    op.drop_table("import_logs")
