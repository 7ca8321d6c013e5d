"""Quality generation for the quality reports: the discharges, every quality summary table and the labels' and
catalogue's tables move it too, so a worker may keep a quality report's result while it is unchanged.

Revision ID: 0044
Revises: 0042
Create Date: 2026-12-04 09:00:00
"""

from alembic import op

revision = "0044"
down_revision = "0042"
branch_labels = None
depends_on = None

# Added to 0036's (operations, events, outcome summaries): what the reports' rows and labels read besides them.
WATCHED = ("quality_discharges", "quality_months", "quality_surgery_months", "quality_surgeon_months",
           "quality_surgeon_technology_months", "departments", "staff", "technologies", "technology_departments",
           "technology_revisions")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:  # bump_quality_generation() is 0036's
            op.execute(f"CREATE TRIGGER trg_{table}_qualgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_quality_generation()")
        return
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_{table}_qualgen_{event.lower()} AFTER {event} ON {table} "
                       "BEGIN UPDATE quality_generation SET value = random() WHERE id = 1; END")


def downgrade() -> None:
    for table in WATCHED:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_qualgen ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_qualgen_{event}")
