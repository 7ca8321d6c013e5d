"""ledger_served_patients and ledger_served_months: distinct patients served per month (the KPIs' 服务患者数),
kept by the ledger's writes, back-filled here

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-04 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_served_patients",
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("months", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block", "patient_id", name="pk_ledger_served_patients"),
    )
    op.create_table(
        "ledger_served_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_ledger_served_months")),
    )
    # The same statements as portal/casemgmt/ledger/summary.py's rebuild_sql (a migration does not import the app).
    if op.get_bind().dialect.name == "postgresql":
        first = "date_trunc('month', service_date)::date"
        year, mon = "extract(year from service_date)::int", "extract(month from service_date)::int"
        one = "1::bigint"
    else:
        first = "date(service_date, 'start of month')"
        year, mon = "cast(strftime('%Y', service_date) as integer)", "cast(strftime('%m', service_date) as integer)"
        one = "1"
    block = f"({year} - {year} % 5)"
    op.execute(f"""
        INSERT INTO ledger_served_patients (block, patient_id, months)
        SELECT {block}, patient_id, sum(DISTINCT {one} << (({year} - {block}) * 12 + {mon} - 1))
        FROM ledger_entries GROUP BY 1, 2""")
    op.execute(f"""
        INSERT INTO ledger_served_months (month, patients)
        SELECT {first}, count(DISTINCT patient_id) FROM ledger_entries GROUP BY 1""")


def downgrade() -> None:
    op.drop_table("ledger_served_months")
    op.drop_table("ledger_served_patients")
