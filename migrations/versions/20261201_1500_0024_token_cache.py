"""API token cache generation: one row, bumped by triggers on every write that can change what a token may do
(the token, its client system, its account, the account's roles and their grants, the staff record that names it).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# Any write to these tables invalidates every worker's token cache ...
WATCHED = ("api_clients", "users", "user_roles", "roles", "role_permissions", "staff")
# ... and to api_tokens only a write that changes what the token may do (not the throttled last_used_at).
TOKEN_COLUMNS = ("token_hash", "client_id", "scopes", "user_id", "is_active", "revoked_at")


def upgrade() -> None:
    op.create_table('api_auth_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_auth_generation'))
    )
    op.execute("INSERT INTO api_auth_generation (id, value) VALUES (1, 0)")
    columns = ", ".join(TOKEN_COLUMNS)
    # A new value that never repeats (see privilege_generation): a cache built inside a rolled-back
    # transaction can never match a later value.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE api_auth_generation_seq")
        op.execute("CREATE FUNCTION bump_api_auth_generation() RETURNS trigger AS $$ BEGIN "
                   "UPDATE api_auth_generation SET value = nextval('api_auth_generation_seq') WHERE id = 1; "
                   "RETURN NULL; END $$ LANGUAGE plpgsql")
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER trg_{table}_authgen AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_api_auth_generation()")
        op.execute(f"CREATE TRIGGER trg_api_tokens_authgen AFTER INSERT OR UPDATE OF {columns} OR DELETE OR TRUNCATE "
                   "ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION bump_api_auth_generation()")
        return
    bump = "BEGIN UPDATE api_auth_generation SET value = random() WHERE id = 1; END"
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_{table}_authgen_{event.lower()} AFTER {event} ON {table} {bump}")
    for event in ("INSERT", f"UPDATE OF {columns}", "DELETE"):
        op.execute(f"CREATE TRIGGER trg_api_tokens_authgen_{event.split()[0].lower()} AFTER {event} "
                   f"ON api_tokens {bump}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*WATCHED, "api_tokens"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_authgen ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_api_auth_generation()")
        op.execute("DROP SEQUENCE IF EXISTS api_auth_generation_seq")
    else:
        for table in (*WATCHED, "api_tokens"):
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_authgen_{event}")
    op.drop_table('api_auth_generation')
