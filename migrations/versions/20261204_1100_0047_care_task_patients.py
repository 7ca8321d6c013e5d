"""care_task_patients: the (case manager, patient) pairs of the tasks with how many tasks each, kept by triggers
on care_tasks in the writing transaction (patient visibility reads it), back-filled here

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-04 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None

PAIR = "case_manager_id = {t}.case_manager_id AND patient_id = {t}.patient_id"

def _pg_function(event: str) -> str:
    """The trigger function of one event: INSERT reads new_tasks, DELETE old_tasks, UPDATE both.

    PostgreSQL: one statement-level trigger per event with its transition table, so the 17:05 build's bulk insert
    and COPY cost one grouped upsert, not one per row. The change per pair is the new rows counted up and the old
    ones down; an update that moves neither manager nor patient nets to nothing and writes nothing. Upserts take
    the pairs in key order, so two writers lock them in the same order.
    """
    parts = []
    if event != "DELETE":
        parts.append("SELECT case_manager_id, patient_id, 1 AS d FROM new_tasks")
    if event != "INSERT":
        parts.append("SELECT case_manager_id, patient_id, -1 AS d FROM old_tasks")
    changed = (f"SELECT case_manager_id, patient_id, sum(d)::int AS n FROM ({' UNION ALL '.join(parts)}) c "
               "WHERE case_manager_id IS NOT NULL GROUP BY 1, 2 HAVING sum(d) <> 0")
    body = (f"INSERT INTO care_task_patients (case_manager_id, patient_id, tasks) {changed} ORDER BY 1, 2 "
            "ON CONFLICT (case_manager_id, patient_id) "
            "DO UPDATE SET tasks = care_task_patients.tasks + excluded.tasks;")
    if event != "INSERT":  # a pair whose last task went
        body += (" DELETE FROM care_task_patients p USING old_tasks o WHERE p.case_manager_id = o.case_manager_id"
                 " AND p.patient_id = o.patient_id AND p.tasks <= 0;")
    return (f"CREATE FUNCTION care_task_patients_{event.lower()}() RETURNS trigger AS $$ BEGIN {body} "
            "RETURN NULL; END $$ LANGUAGE plpgsql")


def _sqlite_add(t: str) -> str:
    return (f"INSERT INTO care_task_patients (case_manager_id, patient_id, tasks) "
            f"SELECT {t}.case_manager_id, {t}.patient_id, 1 WHERE {t}.case_manager_id IS NOT NULL "
            "ON CONFLICT (case_manager_id, patient_id) DO UPDATE SET tasks = tasks + 1;")


def _sqlite_remove(t: str) -> str:
    where = PAIR.format(t=t)
    return (f"UPDATE care_task_patients SET tasks = tasks - 1 WHERE {where}; "
            f"DELETE FROM care_task_patients WHERE {where} AND tasks <= 0;")


def upgrade() -> None:
    op.create_table(
        "care_task_patients",
        sa.Column("case_manager_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_manager_id", "patient_id", name="pk_care_task_patients"),
    )
    op.execute("INSERT INTO care_task_patients (case_manager_id, patient_id, tasks) "
               "SELECT case_manager_id, patient_id, count(*) FROM care_tasks "
               "WHERE case_manager_id IS NOT NULL GROUP BY 1, 2")
    if op.get_bind().dialect.name == "postgresql":
        for event, tables in (("INSERT", "NEW TABLE AS new_tasks"),
                              ("UPDATE", "OLD TABLE AS old_tasks NEW TABLE AS new_tasks"),
                              ("DELETE", "OLD TABLE AS old_tasks")):
            name = event.lower()
            op.execute(_pg_function(event))
            op.execute(f"CREATE TRIGGER trg_care_tasks_patients_{name} AFTER {event} ON care_tasks "
                       f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION care_task_patients_{name}()")
        op.execute("CREATE FUNCTION care_task_patients_truncate() RETURNS trigger AS $$ BEGIN "
                   "DELETE FROM care_task_patients; RETURN NULL; END $$ LANGUAGE plpgsql")
        op.execute("CREATE TRIGGER trg_care_tasks_patients_truncate AFTER TRUNCATE ON care_tasks "
                   "FOR EACH STATEMENT EXECUTE FUNCTION care_task_patients_truncate()")
        return
    op.execute("CREATE TRIGGER trg_care_tasks_patients_insert AFTER INSERT ON care_tasks "
               f"BEGIN {_sqlite_add('NEW')} END")
    op.execute("CREATE TRIGGER trg_care_tasks_patients_update AFTER UPDATE OF case_manager_id, patient_id "
               "ON care_tasks WHEN OLD.case_manager_id IS NOT NEW.case_manager_id "
               f"OR OLD.patient_id IS NOT NEW.patient_id BEGIN {_sqlite_remove('OLD')} {_sqlite_add('NEW')} END")
    op.execute("CREATE TRIGGER trg_care_tasks_patients_delete AFTER DELETE ON care_tasks "
               f"BEGIN {_sqlite_remove('OLD')} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_care_tasks_patients_{event} ON care_tasks")
            op.execute(f"DROP FUNCTION IF EXISTS care_task_patients_{event}()")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_care_tasks_patients_{event}")
    op.drop_table("care_task_patients")
