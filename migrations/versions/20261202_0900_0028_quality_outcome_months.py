"""quality outcome months: operations and operations with an event per month and department, by technology, grade
and kind, by surgeon and by grade

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

MEASURES = ("cases", "complication", "reoperation", "reop48", "reop31", "infection", "ssi")

# Filled from the records as quality.outcomes.summary.grouped() counts them (a matched event per operation once).
BACKFILL = """
INSERT INTO {table} (month, department_id, {keys}, {measures})
SELECT {month}, s.department_id, {s_keys}, count(*),
       coalesce(sum(f.complication), 0), coalesce(sum(f.reoperation), 0), coalesce(sum(f.reop48), 0),
       coalesce(sum(f.reop31), 0), coalesce(sum(f.infection), 0), coalesce(sum(f.ssi), 0)
FROM quality_surgeries s
LEFT JOIN (
    SELECT surgery_id,
           max(CASE WHEN kind = 'complication' THEN 1 ELSE 0 END) AS complication,
           max(CASE WHEN kind = 'reoperation' THEN 1 ELSE 0 END) AS reoperation,
           max(CASE WHEN kind = 'reoperation' AND interval_hours <= 48 THEN 1 ELSE 0 END) AS reop48,
           max(CASE WHEN kind = 'reoperation' AND interval_hours <= 744 THEN 1 ELSE 0 END) AS reop31,
           max(CASE WHEN kind = 'infection' THEN 1 ELSE 0 END) AS infection,
           max(CASE WHEN kind = 'ssi' THEN 1 ELSE 0 END) AS ssi
    FROM quality_events WHERE surgery_id IS NOT NULL AND status = 'matched' GROUP BY surgery_id
) f ON f.surgery_id = s.id
GROUP BY 1, s.department_id, {s_keys}
"""
KEYS = {"quality_outcome_months": ("technology_id", "grade", "kind"), "quality_surgeon_outcome_months": ("surgeon_id",),
        "quality_grade_outcome_months": ("grade",)}


# Each table's key columns after (month, department_id).
KEY_TYPES = {"technology_id": sa.Integer, "surgeon_id": sa.Integer, "grade": sa.SmallInteger,
             "kind": lambda: sa.String(length=16)}


def upgrade() -> None:
    for table, keys in KEYS.items():
        op.create_table(
            table,
            sa.Column("month", sa.Date(), nullable=False),
            sa.Column("department_id", sa.Integer(), nullable=False),
            *(sa.Column(key, KEY_TYPES[key](), nullable=False) for key in keys),
            *(sa.Column(name, sa.Integer(), nullable=False) for name in MEASURES),
            sa.PrimaryKeyConstraint("month", "department_id", *keys, name=op.f(f"pk_{table}")),
        )
    op.create_index("ix_quality_outcome_months_technology", "quality_outcome_months", ["technology_id", "month"])
    op.create_index("ix_quality_outcome_months_department", "quality_outcome_months", ["department_id", "month"])
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:  # covering: the capability report by surgeon reads the index alone
        op.drop_index("ix_quality_surgeries_surgeon", table_name="quality_surgeries")
        op.create_index("ix_quality_surgeries_surgeon", "quality_surgeries", ["surgeon_id", "operation_date"],
                        postgresql_include=["technology_id", "grade", "kind"])
    month = "date_trunc('month', s.operation_date)::date" if postgres else "date(s.operation_date, 'start of month')"
    for table, keys in KEYS.items():
        op.execute(BACKFILL.format(table=table, keys=", ".join(keys), s_keys=", ".join(f"s.{k}" for k in keys),
                                   measures=", ".join(MEASURES), month=month))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_quality_surgeries_surgeon", table_name="quality_surgeries")
        op.create_index("ix_quality_surgeries_surgeon", "quality_surgeries", ["surgeon_id", "operation_date"])
    for table in reversed(KEYS):
        op.drop_table(table)  # its indexes go with it
