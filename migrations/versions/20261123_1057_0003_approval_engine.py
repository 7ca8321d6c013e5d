"""approval engine

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:57:02.988648
"""

from alembic import op
import sqlalchemy as sa
import portal.core.models


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_processes",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("allow_withdraw", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_approval_processes_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_processes")),
        sa.UniqueConstraint("code", name=op.f("uq_approval_processes_code")),
    )
    op.create_table(
        "committees",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_committees_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_committees")),
        sa.UniqueConstraint("code", name=op.f("uq_committees_code")),
    )
    op.create_table(
        "approval_instances",
        sa.Column("process_id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("submitted_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_id"], ["users.id"], name=op.f("fk_approval_instances_applicant_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_approval_instances_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_approval_instances_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["approval_processes.id"],
            name=op.f("fk_approval_instances_process_id_approval_processes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_instances")),
    )
    with op.batch_alter_table("approval_instances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_instances_applicant_id"), ["applicant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_instances_department_id"), ["department_id"], unique=False)
        batch_op.create_index("ix_approval_instances_entity", ["entity_type", "entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_instances_process_id"), ["process_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_instances_status"), ["status"], unique=False)

    op.create_table(
        "approval_steps",
        sa.Column("process_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("role_code", sa.String(length=32), nullable=False),
        sa.Column("committee_id", sa.Integer(), nullable=True),
        sa.Column("committee_mode", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("time_limit_hours", sa.Integer(), nullable=True),
        sa.Column("escalate_after_hours", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["committee_id"],
            ["committees.id"],
            name=op.f("fk_approval_steps_committee_id_committees"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["approval_processes.id"],
            name=op.f("fk_approval_steps_process_id_approval_processes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_approval_steps_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_steps")),
        sa.UniqueConstraint("process_id", "position", name=op.f("uq_approval_steps_process_id_position")),
    )
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_steps_process_id"), ["process_id"], unique=False)

    op.create_table(
        "committee_members",
        sa.Column("committee_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["committee_id"],
            ["committees.id"],
            name=op.f("fk_committee_members_committee_id_committees"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_committee_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("committee_id", "user_id", name=op.f("pk_committee_members")),
    )
    op.create_table(
        "approval_tasks",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=100), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalate_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acted_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_approval_tasks_assignee_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["approval_instances.id"],
            name=op.f("fk_approval_tasks_instance_id_approval_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_tasks")),
    )
    with op.batch_alter_table("approval_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_approval_tasks_assignee_status", ["assignee_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_tasks_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_tasks_instance_id"), ["instance_id"], unique=False)

    op.create_table(
        "approval_actions",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("step_name", sa.String(length=100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_approval_actions_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["approval_instances.id"],
            name=op.f("fk_approval_actions_instance_id_approval_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["approval_tasks.id"],
            name=op.f("fk_approval_actions_task_id_approval_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_actions")),
    )
    with op.batch_alter_table("approval_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_actions_instance_id"), ["instance_id"], unique=False)

    op.create_table(
        "approval_attachments",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["approval_actions.id"],
            name=op.f("fk_approval_attachments_action_id_approval_actions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["approval_instances.id"],
            name=op.f("fk_approval_attachments_instance_id_approval_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_attachments")),
    )
    with op.batch_alter_table("approval_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_attachments_action_id"), ["action_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_attachments_instance_id"), ["instance_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("approval_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_attachments_instance_id"))
        batch_op.drop_index(batch_op.f("ix_approval_attachments_action_id"))

    op.drop_table("approval_attachments")
    with op.batch_alter_table("approval_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_actions_instance_id"))

    op.drop_table("approval_actions")
    with op.batch_alter_table("approval_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_tasks_instance_id"))
        batch_op.drop_index(batch_op.f("ix_approval_tasks_due_at"))
        batch_op.drop_index("ix_approval_tasks_assignee_status")

    op.drop_table("approval_tasks")
    op.drop_table("committee_members")
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_steps_process_id"))

    op.drop_table("approval_steps")
    with op.batch_alter_table("approval_instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_instances_status"))
        batch_op.drop_index(batch_op.f("ix_approval_instances_process_id"))
        batch_op.drop_index("ix_approval_instances_entity")
        batch_op.drop_index(batch_op.f("ix_approval_instances_department_id"))
        batch_op.drop_index(batch_op.f("ix_approval_instances_applicant_id"))

    op.drop_table("approval_instances")
    op.drop_table("committees")
    op.drop_table("approval_processes")
