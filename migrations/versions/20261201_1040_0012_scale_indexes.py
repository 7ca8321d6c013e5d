"""indexes for the filters of the task lists, the supervisor's overview, patient visibility and the KPIs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:40:00
"""

from alembic import op


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_care_tasks_status_due", ["status", "due_date"]),
    ("ix_care_tasks_completed_at", ["completed_at"]),
    ("ix_care_tasks_manager_completed", ["case_manager_id", "completed_at"]),
    ("ix_care_tasks_manager_patient", ["case_manager_id", "patient_id"]),
    ("ix_care_tasks_source_window", ["source", "window_end", "status", "outcome", "completed_at"]),
    ("ix_care_tasks_flagged_at", ["flagged_at"]),
]
# The KPIs' patients served in a month (and per case manager) read the index alone.
LEDGER_INDEXES = [("ix_ledger_entries_served", ["service_date", "case_manager_id", "patient_id"])]


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, "care_tasks", columns)
    for name, columns in LEDGER_INDEXES:
        op.create_index(name, "ledger_entries", columns)


def downgrade() -> None:
    for name, _ in LEDGER_INDEXES:
        op.drop_index(name, table_name="ledger_entries")
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="care_tasks")
