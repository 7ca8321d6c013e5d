"""server-side sessions and login throttles per account and address

Sessions: one row per signed-in browser (the cookie carries its key), so logout, a password change or a
deactivation end sessions on the server. Lockout: failures are counted per (login name, address) instead
of per account, so the users' session_token, failed_logins and locked_until columns go. Everybody signs in
again after the upgrade.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 09:25:00
"""

from alembic import op
import sqlalchemy as sa
import portal.core.models


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_sessions",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_user_sessions_key_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "login_throttles",
        sa.Column("login_name", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttles")),
        sa.UniqueConstraint("login_name", "ip", name=op.f("uq_login_throttles_login_name_ip")),
    )
    with op.batch_alter_table("login_events", schema=None) as batch_op:
        batch_op.create_index("ix_login_events_ip_created_at", ["ip", "created_at"], unique=False)

    # Plain columns without constraints: SQLite (3.35+) drops them in place, no table rebuild.
    op.drop_column("users", "session_token")
    op.drop_column("users", "failed_logins")
    op.drop_column("users", "locked_until")


def downgrade():
    op.add_column("users", sa.Column("locked_until", portal.core.models.UTCDateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("session_token", sa.String(length=32), nullable=False, server_default=""))
    # Each user needs a token of their own again (an empty one signs nobody in).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE users SET session_token = lower(hex(randomblob(16)))")
    else:
        op.execute("UPDATE users SET session_token = md5(random()::text || id::text)")
    with op.batch_alter_table("login_events", schema=None) as batch_op:
        batch_op.drop_index("ix_login_events_ip_created_at")
    op.drop_table("login_throttles")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
    op.drop_table("user_sessions")
