"""Indexes of the approval to-do list (one user's pending tasks in deadline order) and of the supervision
home panel (findings to rectify by state, deadline and department).

Revision ID: 0030
Revises: 0026
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_approval_tasks_todo", "approval_tasks", ["assignee_id", "due_at", "id"], unique=False,
                    sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_supervision_findings_open", "supervision_findings", ["status", "deadline", "department_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_supervision_findings_open", table_name="supervision_findings")
    op.drop_index("ix_approval_tasks_todo", table_name="approval_tasks")
