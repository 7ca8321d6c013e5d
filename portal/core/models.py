"""The declarative base, column types and mixins every model uses."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData, TypeDecorator, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column

from .timeutil import utcnow

# Stable constraint names on SQLite and PostgreSQL alike (migrations depend on them).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __repr__(self) -> str:
        ident = getattr(self, "id", None)
        label = getattr(self, "name", None) or getattr(self, "login_name", None) or ""
        return f"<{type(self).__name__} {ident} {label}>".replace("  ", " ").replace(" >", ">")


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class CreatedByMixin:
    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        # users -> staff -> departments -> users is a cycle: these edges are added after the tables.
        use_alter = cls.__tablename__ in ("departments", "staff")
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL", use_alter=use_alter), nullable=True)


class Model(Base, IdMixin, TimestampMixin, CreatedByMixin):
    """The usual base: id, created/updated timestamps (UTC) and created_by."""

    __abstract__ = True


@event.listens_for(Session, "before_flush")
def _stamp_created_by(session: Session, flush_context, instances) -> None:
    """New rows record who created them (the current actor), unless a service set it already."""
    from .actor import current_actor

    user_id = current_actor().user_id
    if user_id is None:
        return
    for obj in session.new:
        if isinstance(obj, CreatedByMixin) and obj.created_by_id is None:
            obj.created_by_id = user_id
