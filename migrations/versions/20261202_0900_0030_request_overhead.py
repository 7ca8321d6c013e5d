"""What every page pays, and the approval and supervision lists.

* The signed-in user's rows are cached per worker for one value of api_auth_generation (see
  portal/auth/session.py): its triggers now also fire when a server-side session ends or changes (not on the
  throttled last_seen_at, ip or user agent) and on any write to departments (the user's department is cached).
* Indexes of the approval to-do list (one user's pending tasks in deadline order) and of the supervision home
  panel (findings to rectify by state, deadline and department).

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0028"
branch_labels = None
depends_on = None

SESSION_COLUMNS = ("user_id", "key_hash", "created_at", "ended_at", "end_reason")


def upgrade() -> None:
    columns = ", ".join(SESSION_COLUMNS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER trg_departments_authgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   "ON departments FOR EACH STATEMENT EXECUTE FUNCTION bump_api_auth_generation()")
        op.execute(f"CREATE TRIGGER trg_user_sessions_authgen AFTER UPDATE OF {columns} OR DELETE OR TRUNCATE "
                   "ON user_sessions FOR EACH STATEMENT EXECUTE FUNCTION bump_api_auth_generation()")
    else:
        bump = "BEGIN UPDATE api_auth_generation SET value = random() WHERE id = 1; END"
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_departments_authgen_{event.lower()} AFTER {event} ON departments {bump}")
        for event in (f"UPDATE OF {columns}", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_user_sessions_authgen_{event.split()[0].lower()} AFTER {event} "
                       f"ON user_sessions {bump}")
    op.create_index("ix_approval_tasks_todo", "approval_tasks", ["assignee_id", "due_at", "id"], unique=False,
                    sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_supervision_findings_open", "supervision_findings", ["status", "deadline", "department_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_supervision_findings_open", table_name="supervision_findings")
    op.drop_index("ix_approval_tasks_todo", table_name="approval_tasks")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_user_sessions_authgen ON user_sessions")
        op.execute("DROP TRIGGER IF EXISTS trg_departments_authgen ON departments")
    else:
        for name in ("trg_user_sessions_authgen_update", "trg_user_sessions_authgen_delete",
                     "trg_departments_authgen_insert", "trg_departments_authgen_update",
                     "trg_departments_authgen_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
