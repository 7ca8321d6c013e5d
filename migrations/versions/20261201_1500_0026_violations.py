"""Privilege checks after the fact: violations found in the surgeries and the risk alert per surgeon and day

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

import portal.core.models

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def _stamps():
    return [sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("created_at", portal.core.models.UTCDateTime(), nullable=False),
            sa.Column("updated_at", portal.core.models.UTCDateTime(), nullable=False),
            sa.Column("created_by_id", sa.Integer(), nullable=True)]


def upgrade() -> None:
    op.create_table(
        "quality_violations",
        sa.Column("surgery_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("operation_date", sa.Date(), nullable=False),
        sa.Column("other_surgery_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("override_id", sa.Integer(), nullable=True),
        sa.Column("finding_id", sa.Integer(), nullable=True),
        sa.Column("handled_by_id", sa.Integer(), nullable=True),
        sa.Column("handled_at", portal.core.models.UTCDateTime(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_quality_violations_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_quality_violations_department_id_departments"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["finding_id"], ["supervision_findings.id"],
                                name=op.f("fk_quality_violations_finding_id_supervision_findings"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["handled_by_id"], ["users.id"], name=op.f("fk_quality_violations_handled_by_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["override_id"], ["privilege_overrides.id"],
                                name=op.f("fk_quality_violations_override_id_privilege_overrides"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_quality_violations_staff_id_staff"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["surgery_id"], ["quality_surgeries.id"],
                                name=op.f("fk_quality_violations_surgery_id_quality_surgeries"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_violations")),
        sa.UniqueConstraint("surgery_id", "kind", name=op.f("uq_quality_violations_surgery_id_kind")),
    )
    op.create_index("ix_quality_violations_open", "quality_violations", ["status", "operation_date"])
    op.create_index("ix_quality_violations_staff", "quality_violations", ["staff_id", "operation_date"])
    op.create_index("ix_quality_violations_department", "quality_violations", ["department_id", "operation_date"])
    op.create_table(
        "quality_risk_alerts",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_quality_risk_alerts_created_by_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_quality_risk_alerts_staff_id_staff"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_risk_alerts")),
        sa.UniqueConstraint("staff_id", "day", name=op.f("uq_quality_risk_alerts_staff_id_day")),
    )


def downgrade() -> None:
    op.drop_table("quality_risk_alerts")
    op.drop_index("ix_quality_violations_department", table_name="quality_violations")
    op.drop_index("ix_quality_violations_staff", table_name="quality_violations")
    op.drop_index("ix_quality_violations_open", table_name="quality_violations")
    op.drop_table("quality_violations")
