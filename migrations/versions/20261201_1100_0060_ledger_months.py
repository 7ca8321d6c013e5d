"""ledger_months: the service ledger summed per month, kept current by the writes, back-filled here

Revision ID: 0060
Revises: 0012
Create Date: 2026-12-01 11:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = "0060"
down_revision = "0012"
branch_labels = None
depends_on = None

KEY = ["month", "case_manager_id", "task_type", "icd10_code", "disease_name", "source", "patient_id"]


def upgrade() -> None:
    op.create_table(
        "ledger_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("case_manager_id", sa.Integer(), nullable=False),
        sa.Column("task_type", sa.String(32), nullable=False),
        sa.Column("icd10_code", sa.String(16), nullable=False),
        sa.Column("disease_name", sa.String(100), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("services", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Integer(), nullable=False),
        sa.Column("not_reached", sa.Integer(), nullable=False),
        sa.Column("declined", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name="pk_ledger_months"),
    )
    op.create_index("ix_ledger_months_manager", "ledger_months", ["case_manager_id", "month"])
    if op.get_bind().dialect.name == "postgresql":
        month = "date_trunc('month', service_date)::date"
    else:
        month = "date(service_date, 'start of month')"
    op.execute(f"""
        INSERT INTO ledger_months (month, case_manager_id, task_type, icd10_code, disease_name, source, patient_id,
                                   services, reached, not_reached, declined)
        SELECT {month}, coalesce(case_manager_id, 0), task_type, coalesce(icd10_code, ''),
               coalesce(disease_name, ''), CASE WHEN task_id IS NULL THEN 'adhoc' ELSE 'task' END, patient_id,
               count(*), sum(CASE WHEN outcome = 'reached' THEN 1 ELSE 0 END),
               sum(CASE WHEN outcome = 'not_reached' THEN 1 ELSE 0 END),
               sum(CASE WHEN outcome = 'declined' THEN 1 ELSE 0 END)
        FROM ledger_entries
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    """)


def downgrade() -> None:
    op.drop_index("ix_ledger_months_manager", table_name="ledger_months")
    op.drop_table("ledger_months")
