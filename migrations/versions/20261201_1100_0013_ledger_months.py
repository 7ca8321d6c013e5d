"""ledger_months and ledger_patient_months: the service ledger summed per month, back-filled here

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 11:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

DIMENSIONS = ["case_manager_id", "task_type", "icd10_code", "disease_name", "source"]


def _dimensions():
    return [sa.Column("case_manager_id", sa.Integer(), nullable=False),
            sa.Column("task_type", sa.String(32), nullable=False),
            sa.Column("icd10_code", sa.String(16), nullable=False),
            sa.Column("disease_name", sa.String(100), nullable=False),
            sa.Column("source", sa.String(8), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "ledger_months",
        sa.Column("month", sa.Date(), nullable=False),
        *_dimensions(),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("services", "reached", "not_reached", "declined")),
        sa.PrimaryKeyConstraint("month", *DIMENSIONS, name="pk_ledger_months"),
    )
    op.create_table(
        "ledger_patient_months",
        sa.Column("block", sa.Integer(), nullable=False),
        *_dimensions(),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("months", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block", *DIMENSIONS, "patient_id", name="pk_ledger_patient_months"),
    )
    if op.get_bind().dialect.name == "postgresql":
        first = "date_trunc('month', service_date)::date"
        year, mon = "extract(year from service_date)::int", "extract(month from service_date)::int"
        one = "1::bigint"
    else:
        first = "date(service_date, 'start of month')"
        year, mon = "cast(strftime('%Y', service_date) as integer)", "cast(strftime('%m', service_date) as integer)"
        one = "1"
    block = f"({year} - {year} % 5)"
    keys = ("coalesce(case_manager_id, 0), task_type, coalesce(icd10_code, ''), coalesce(disease_name, ''), "
            "CASE WHEN task_id IS NULL THEN 'adhoc' ELSE 'task' END")
    op.execute(f"""
        INSERT INTO ledger_months (month, case_manager_id, task_type, icd10_code, disease_name, source,
                                   services, reached, not_reached, declined)
        SELECT {first}, {keys}, count(*), sum(CASE WHEN outcome = 'reached' THEN 1 ELSE 0 END),
               sum(CASE WHEN outcome = 'not_reached' THEN 1 ELSE 0 END),
               sum(CASE WHEN outcome = 'declined' THEN 1 ELSE 0 END)
        FROM ledger_entries
        GROUP BY 1, 2, 3, 4, 5, 6""")
    op.execute(f"""
        INSERT INTO ledger_patient_months (block, case_manager_id, task_type, icd10_code, disease_name, source,
                                           patient_id, months)
        SELECT {block}, {keys}, patient_id, sum(DISTINCT {one} << (({year} - {block}) * 12 + {mon} - 1))
        FROM ledger_entries
        GROUP BY 1, 2, 3, 4, 5, 6, 7""")


def downgrade() -> None:
    op.drop_table("ledger_patient_months")
    op.drop_table("ledger_months")
