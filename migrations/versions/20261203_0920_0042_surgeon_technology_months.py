"""quality surgeon technology months: per surgeon, technology, grade, kind and department, a bit set of the months
with operations within a five-year block (the capability report by surgeon)

Revision ID: 0042
Revises: 0041
"""

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

# Filled from the operations as quality.reports.technologies.grouped() does: the OR of the months' bits is the sum
# of the distinct bits.
BACKFILL = """
INSERT INTO quality_surgeon_technology_months (block, surgeon_id, technology_id, grade, kind, department_id, months)
SELECT {year} - {year} % 5, surgeon_id, technology_id, grade, kind, department_id,
       sum(DISTINCT {one} << (({year} - ({year} - {year} % 5)) * 12 + {month} - 1))
FROM quality_surgeries
GROUP BY 1, 2, 3, 4, 5, 6
"""


def backfill_sql(dialect: str) -> str:
    if dialect == "postgresql":
        year, month, one = ("extract(year from operation_date)::int", "extract(month from operation_date)::int",
                            "1::bigint")
    else:
        year, month, one = ("cast(strftime('%Y', operation_date) as integer)",
                            "cast(strftime('%m', operation_date) as integer)", "1")
    return BACKFILL.format(year=year, month=month, one=one)


def upgrade() -> None:
    op.create_table(
        "quality_surgeon_technology_months",
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("surgeon_id", sa.Integer(), nullable=False),
        sa.Column("technology_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("months", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block", "surgeon_id", "technology_id", "grade", "kind", "department_id",
                                name="pk_quality_surgeon_technology_months"),
    )
    op.execute(backfill_sql(op.get_bind().dialect.name))
    op.create_index("ix_quality_surgeon_technology_months_surgeon", "quality_surgeon_technology_months",
                    ["surgeon_id", "technology_id"],
                    postgresql_include=["block", "months", "grade", "kind", "department_id"])


def downgrade() -> None:
    op.drop_table("quality_surgeon_technology_months")
