"""The import log: who imported which file, how, with what result (the original file is kept)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.models import Base, IdMixin, UTCDateTime
from portal.core.timeutil import utcnow

MODES = {"new_only": "只导入新记录", "upsert": "新增并更正已有记录", "replace": "替换该期间的数据"}


class ImportLog(Base, IdMixin):
    __tablename__ = "import_logs"

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    import_type: Mapped[str] = mapped_column(String(32), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_new: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_deleted: Mapped[int] = mapped_column(Integer, default=0)
    rows_invalid: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    # Set when the original's bytes were deleted after the retention period (content is then empty).
    original_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def mode_label(self) -> str:
        return MODES.get(self.mode, self.mode)
