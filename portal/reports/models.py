"""The report archive: each generated run of a report, its filters and its file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.models import Base, IdMixin, UTCDateTime
from portal.core.timeutil import utcnow


class ReportRun(Base, IdMixin):
    """One archived file of a report: by a schedule (requested_by_id empty) or by a user's button."""

    __tablename__ = "report_runs"
    __table_args__ = (Index("ix_report_runs_code_generated", "report_code", "generated_at"),)

    report_code: Mapped[str] = mapped_column(String(48))
    period: Mapped[str] = mapped_column(String(32))  # 2026-10, or 2026-10-01_2026-10-15
    filters: Mapped[dict] = mapped_column(JSON, default=dict)  # the query arguments the run used
    filter_text: Mapped[str] = mapped_column(String(500), default="")  # as printed on the file
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    schedule: Mapped[str] = mapped_column(String(48), default="")  # the schedule's name; empty for a user's run
    rows: Mapped[int] = mapped_column(Integer, default=0)
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)

    @property
    def source_label(self) -> str:
        return "定时生成" if self.schedule else "手动生成"
