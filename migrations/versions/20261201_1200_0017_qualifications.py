"""qualification_types and qualifications: the credentials domain's qualification records

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.core.models


revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qualification_types',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('expires', sa.Boolean(), nullable=False),
    sa.Column('reminder_days', sa.String(length=64), nullable=False),
    sa.Column('requires_attachment', sa.Boolean(), nullable=False),
    sa.Column('levels', sa.Text(), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_qualification_types_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qualification_types')),
    sa.UniqueConstraint('code', name=op.f('uq_qualification_types_code')),
    sa.UniqueConstraint('name', name=op.f('uq_qualification_types_name'))
    )
    op.create_table('qualifications',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('type_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('issuer', sa.String(length=100), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('approval_id', sa.Integer(), nullable=True),
    sa.Column('reminded_days', sa.Integer(), nullable=True),
    sa.Column('reminded_on', sa.Date(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['approval_id'], ['approval_instances.id'], name=op.f('fk_qualifications_approval_id_approval_instances'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_qualifications_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_qualifications_staff_id_staff'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['supersedes_id'], ['qualifications.id'], name=op.f('fk_qualifications_supersedes_id_qualifications'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['type_id'], ['qualification_types.id'], name=op.f('fk_qualifications_type_id_qualification_types'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qualifications'))
    )
    with op.batch_alter_table('qualifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qualifications_number'), ['number'], unique=False)
        batch_op.create_index('ix_qualifications_staff_id_status', ['staff_id', 'status'], unique=False)
        batch_op.create_index('ix_qualifications_status_valid_to', ['status', 'valid_to'], unique=False)
        batch_op.create_index('ix_qualifications_valid_to_id', ['valid_to', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qualifications_type_id'), ['type_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('qualifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qualifications_type_id'))
        batch_op.drop_index('ix_qualifications_valid_to_id')
        batch_op.drop_index('ix_qualifications_status_valid_to')
        batch_op.drop_index('ix_qualifications_staff_id_status')
        batch_op.drop_index(batch_op.f('ix_qualifications_number'))

    op.drop_table('qualifications')
    op.drop_table('qualification_types')
