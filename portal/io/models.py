"""The import log: who imported which file, how, with what result (the original file is kept)."""

from __future__ import annotations

from datetime import date, datetime

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


JOB_KINDS = {"import": "导入", "preview": "导入检查", "export": "导出"}
JOB_STATES = {"queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}
JOB_STAGES = {"check": "正在检查", "write": "正在写入"}


class Job(Base):
    """A background job (big import, its preview, or a big export), mirroring the RQ job.

    The page and the history read this row, never Redis: a job whose worker died is still found,
    and the sweep marks it failed once its heartbeat stops.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # also the RQ job's argument
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # import, preview, export
    code: Mapped[str] = mapped_column(String(64))  # the import type, or the registered export
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    stage: Mapped[str] = mapped_column(String(16), default="")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(255), default="")  # the result: an import log, a file
    filename: Mapped[str] = mapped_column(String(200), default="")
    mode: Mapped[str] = mapped_column(String(16), default="")  # imports
    period: Mapped[str] = mapped_column(String(32), default="")  # imports in mode "replace": 2026-01-01..2026-01-31
    sheet: Mapped[str] = mapped_column(String(100), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")  # imports: the uploaded file
    args: Mapped[str] = mapped_column(Text, default="{}")  # exports: the list's query arguments, as JSON
    result: Mapped[str] = mapped_column(Text, default="")  # previews: counts and first errors, as JSON
    log_id: Mapped[int | None] = mapped_column(Integer)
    retry_of: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(Text, default="[]")  # JSON [name, ip, user agent] for the audit trail
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.state}>"

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    @property
    def state_label(self) -> str:
        return JOB_STATES.get(self.state, self.state)

    @property
    def stage_label(self) -> str:
        return JOB_STAGES.get(self.stage, "")

    @property
    def kind_label(self) -> str:
        return JOB_KINDS.get(self.kind, self.kind)

    @property
    def percent(self) -> int:
        """Checking an import is the first half of its bar, writing the second; a preview checks, an export writes."""
        if self.state == "done":
            return 100
        share = min(self.done, self.total) / self.total if self.total else 0
        if self.kind == "import":
            return int(share * 50) + (50 if self.stage == "write" else 0)
        return int(share * 100)

    @property
    def mode_label(self) -> str:
        return MODES.get(self.mode, self.mode)

    @property
    def expires(self) -> datetime | None:
        return self.expires_at

    @property
    def period_range(self) -> tuple[date, date] | None:
        if not self.period:
            return None
        start, end = self.period.split("..")
        return date.fromisoformat(start), date.fromisoformat(end)
