"""API tokens for other hospital systems (HIS, HR): each acts as one portal user."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.core.models import Model, UTCDateTime


class ApiToken(Model):
    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(100))
    # Only the SHA-256 of the token is stored; the token itself is shown once when created.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))  # to recognise a token in lists and logs
    # The token acts as this user: their roles decide what it may do, and the audit log names them.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
