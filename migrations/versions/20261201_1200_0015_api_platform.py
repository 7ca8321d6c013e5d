"""API platform: client systems (api_clients) owning the tokens, token scopes, the call log, signed-link nonces

Each existing token becomes the token of a client system of its own (code LEGACY-<id>, named after the
token), with the scopes its account could use before: "plans" when the account held casemgmt.plan.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.core.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# scope -> the permission an account needed to call its endpoints before scopes existed
LEGACY_SCOPES = {"plans": "casemgmt.plan"}


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("contact", sa.String(length=100), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("secret_rotated_at", portal.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_api_clients_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("code", name=op.f("uq_api_clients_code")),
    )
    op.create_table(
        "api_calls",
        sa.Column("created_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("token_prefix", sa.String(length=12), nullable=False),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_calls")),
    )
    op.create_index("ix_api_calls_created_at", "api_calls", ["created_at"], unique=False)
    op.create_table(
        "sso_nonces",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", portal.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["api_clients.id"], name=op.f("fk_sso_nonces_client_id_api_clients"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_nonces")),
        sa.UniqueConstraint("client_id", "nonce", name=op.f("uq_sso_nonces_client_id_nonce")),
    )
    op.create_index(op.f("ix_sso_nonces_expires_at"), "sso_nonces", ["expires_at"], unique=False)

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("scopes", sa.String(length=500), nullable=False, server_default=""))

    bind = op.get_bind()
    tokens = sa.table("api_tokens", sa.column("id", sa.Integer), sa.column("name", sa.String),
                      sa.column("user_id", sa.Integer), sa.column("is_active", sa.Boolean),
                      sa.column("client_id", sa.Integer), sa.column("scopes", sa.String),
                      sa.column("created_at", portal.core.models.UTCDateTime(timezone=True)))
    clients = sa.table("api_clients", sa.column("id", sa.Integer), sa.column("code", sa.String),
                       sa.column("name", sa.String), sa.column("contact", sa.String), sa.column("notes", sa.Text),
                       sa.column("is_active", sa.Boolean),
                       sa.column("created_at", portal.core.models.UTCDateTime(timezone=True)),
                       sa.column("updated_at", portal.core.models.UTCDateTime(timezone=True)))
    user_roles = sa.table("user_roles", sa.column("user_id", sa.Integer), sa.column("role_id", sa.Integer))
    grants = sa.table("role_permissions", sa.column("role_id", sa.Integer), sa.column("permission", sa.String))
    for token in bind.execute(sa.select(tokens.c.id, tokens.c.name, tokens.c.user_id, tokens.c.created_at)
                              .order_by(tokens.c.id)).all():
        held = set(bind.execute(sa.select(grants.c.permission).join(user_roles, user_roles.c.role_id == grants.c.role_id)
                                .where(user_roles.c.user_id == token.user_id)).scalars())
        scopes = " ".join(sorted(scope for scope, perm in LEGACY_SCOPES.items() if perm in held))
        client_id = bind.execute(clients.insert().values(
            code=f"LEGACY-{token.id}", name=token.name[:100], contact="",
            notes="由原接口令牌迁移而来：请核对系统名称与联系人", is_active=True,
            created_at=token.created_at, updated_at=token.created_at).returning(clients.c.id)).scalar_one()
        bind.execute(tokens.update().where(tokens.c.id == token.id).values(client_id=client_id, scopes=scopes))

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("client_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("scopes", existing_type=sa.String(length=500), server_default=None)
        batch_op.create_index(batch_op.f("ix_api_tokens_client_id"), ["client_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_api_tokens_client_id_api_clients"), "api_clients",
                                    ["client_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_client_id_api_clients"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_tokens_client_id"))
        batch_op.drop_column("scopes")
        batch_op.drop_column("client_id")
    op.drop_index(op.f("ix_sso_nonces_expires_at"), table_name="sso_nonces")
    op.drop_table("sso_nonces")
    op.drop_index("ix_api_calls_created_at", table_name="api_calls")
    op.drop_table("api_calls")
    op.drop_table("api_clients")
