"""Client systems (对接系统), their tokens and scopes, the call log and the single-use nonces of signed links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.core import crypto
from portal.core.models import Base, IdMixin, Model, UTCDateTime
from portal.core.timeutil import utcnow


class ApiClient(Model):
    """Another hospital system (HIS, HR, ...) that calls /api/v1 and opens signed links."""

    __tablename__ = "api_clients"

    code: Mapped[str] = mapped_column(String(32), unique=True)  # in signed links: client=<code>
    name: Mapped[str] = mapped_column(String(100))
    contact: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The shared secret of signed links (HMAC-SHA256), encrypted with the data key; shown once when rotated.
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="client", order_by="ApiToken.id.desc()")


crypto.register_sealed(crypto.Sealed(ApiClient, encrypted=("secret_encrypted",)))


class ApiToken(Model):
    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(100))
    # Only the SHA-256 of the token is stored; the token itself is shown once when created.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))  # to recognise a token in lists and logs
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"), index=True)
    # The endpoints' scopes this token may call, space separated ("plans staff").
    scopes: Mapped[str] = mapped_column(String(500), default="")
    # The token acts as this user: their permissions are checked too, and the audit log names them.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    client: Mapped[ApiClient] = relationship(back_populates="tokens")

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class ApiCall(Base, IdMixin):
    """One /api/v1 call (written in bulk from a buffer; see portal.api.calls)."""

    __tablename__ = "api_calls"
    __table_args__ = (Index("ix_api_calls_created_at", "created_at"),)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: a log outlives what it names
    token_prefix: Mapped[str] = mapped_column(String(12), default="")
    endpoint: Mapped[str] = mapped_column(String(100))  # the declared endpoint ("casemgmt.submit_plan") or ""
    route: Mapped[str] = mapped_column(String(200))  # "/api/v1/plans/<plan_date>", or the path if none matched
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str] = mapped_column(String(32), default="")
    duration_ms: Mapped[int] = mapped_column(Integer)


class SsoNonce(Base, IdMixin):
    """A nonce of a signed link that has been used: the unique row makes the link single use."""

    __tablename__ = "sso_nonces"
    __table_args__ = (UniqueConstraint("client_id", "nonce"),)

    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ApiAuthGeneration(Base):
    """One row: set to a new, never repeated value by database triggers on every write that can change what a
    token may do (the token, its client, its account, roles and grants) or what a signed-in page user is (their
    account, staff record, department, the end of their session); each worker's token cache and session cache
    is valid for one value (see portal.api.tokens and portal.auth.session)."""

    __tablename__ = "api_auth_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
