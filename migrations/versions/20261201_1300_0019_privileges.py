"""Privileges: granted records and their adjustment chain, admission rules, interception alerts, emergency
overrides, and the generation counter of the check cache (one row, bumped by triggers on every table the
privilege check depends on, in the writing transaction).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 13:00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.core.models

WATCHED = ("privileges", "qualifications", "qualification_types", "technologies", "technology_departments", "staff",
           "departments")

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('privilege_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privilege_generation'))
    )
    op.create_table('privilege_rules',
    sa.Column('grade', sa.SmallInteger(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('min_title', sa.String(length=8), nullable=False),
    sa.Column('min_years', sa.Integer(), nullable=False),
    sa.Column('trainings', sa.String(length=200), nullable=False),
    sa.Column('certificates', sa.String(length=200), nullable=False),
    sa.Column('combine', sa.String(length=4), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_privilege_rules_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privilege_rules'))
    )
    op.create_table('privilege_alerts',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('technology_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('right', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('notified', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_privilege_alerts_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_privilege_alerts_staff_id_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['technology_id'], ['technologies.id'], name=op.f('fk_privilege_alerts_technology_id_technologies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privilege_alerts')),
    sa.UniqueConstraint('staff_id', 'technology_id', 'day', name=op.f('uq_privilege_alerts_staff_id_technology_id_day'))
    )
    with op.batch_alter_table('privilege_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_privilege_alerts_day', ['day'], unique=False)

    op.create_table('privilege_overrides',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('technology_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('performed_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('due_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('confirmed_at', portal.core.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.String(length=1000), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], name=op.f('fk_privilege_overrides_client_id_api_clients'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['users.id'], name=op.f('fk_privilege_overrides_confirmed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_privilege_overrides_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_privilege_overrides_staff_id_staff'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['technology_id'], ['technologies.id'], name=op.f('fk_privilege_overrides_technology_id_technologies'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privilege_overrides'))
    )
    with op.batch_alter_table('privilege_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privilege_overrides_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index('ix_privilege_overrides_status_due_at', ['status', 'due_at'], unique=False)

    op.create_table('privileges',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('grade', sa.SmallInteger(), nullable=True),
    sa.Column('categories', sa.String(length=120), nullable=False),
    sa.Column('technology_id', sa.Integer(), nullable=True),
    sa.Column('can_order', sa.Boolean(), nullable=False),
    sa.Column('can_perform', sa.Boolean(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('approval_id', sa.Integer(), nullable=True),
    sa.Column('reminded_days', sa.Integer(), nullable=True),
    sa.Column('reminded_on', sa.Date(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['approval_id'], ['approval_instances.id'], name=op.f('fk_privileges_approval_id_approval_instances'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_privileges_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_privileges_staff_id_staff'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['supersedes_id'], ['privileges.id'], name=op.f('fk_privileges_supersedes_id_privileges'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['technology_id'], ['technologies.id'], name=op.f('fk_privileges_technology_id_technologies'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privileges'))
    )
    with op.batch_alter_table('privileges', schema=None) as batch_op:
        batch_op.create_index('ix_privileges_staff_id_status', ['staff_id', 'status'], unique=False)
        batch_op.create_index('ix_privileges_status_valid_to', ['status', 'valid_to'], unique=False)
        batch_op.create_index(batch_op.f('ix_privileges_supersedes_id'), ['supersedes_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_privileges_technology_id'), ['technology_id'], unique=False)
        batch_op.create_index('ix_privileges_updated_at_id', ['updated_at', 'id'], unique=False)

    op.execute("INSERT INTO privilege_generation (id, value) VALUES (1, 0)")
    _create_triggers()


def _create_triggers() -> None:
    # A new value that never repeats (a sequence is not rolled back; SQLite takes a random 64-bit number): a
    # cache built from a transaction's own changes that were then rolled back can never match a later value.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE privilege_generation_seq")
        op.execute("CREATE FUNCTION bump_privilege_generation() RETURNS trigger AS $$ BEGIN "
                   "UPDATE privilege_generation SET value = nextval('privilege_generation_seq') WHERE id = 1; "
                   "RETURN NULL; END $$ LANGUAGE plpgsql")
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER trg_{table}_privgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_privilege_generation()")
        return
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_{table}_privgen_{event.lower()} AFTER {event} ON {table} "
                       "BEGIN UPDATE privilege_generation SET value = random() WHERE id = 1; END")


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_privgen ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_privilege_generation()")
        op.execute("DROP SEQUENCE IF EXISTS privilege_generation_seq")
        return
    for table in WATCHED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_privgen_{event}")


def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table('privileges', schema=None) as batch_op:
        batch_op.drop_index('ix_privileges_updated_at_id')
        batch_op.drop_index(batch_op.f('ix_privileges_technology_id'))
        batch_op.drop_index(batch_op.f('ix_privileges_supersedes_id'))
        batch_op.drop_index('ix_privileges_status_valid_to')
        batch_op.drop_index('ix_privileges_staff_id_status')

    op.drop_table('privileges')
    with op.batch_alter_table('privilege_overrides', schema=None) as batch_op:
        batch_op.drop_index('ix_privilege_overrides_status_due_at')
        batch_op.drop_index(batch_op.f('ix_privilege_overrides_staff_id'))

    op.drop_table('privilege_overrides')
    with op.batch_alter_table('privilege_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_privilege_alerts_day')

    op.drop_table('privilege_alerts')
    op.drop_table('privilege_rules')
    op.drop_table('privilege_generation')
