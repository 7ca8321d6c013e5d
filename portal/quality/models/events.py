"""Quality events imported by date: complications, unplanned reoperations, postoperative infections and SSI.

Each names its surgery by surgery record id, or by 病案号 + operation date. A row whose surgery is not (yet)
known is kept as ``unmatched`` and listed for correction; a surgery imported later matches it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.models import Model, UTCDateTime

from .choices import EVENT_KINDS, EVENT_STATUSES, SSI_DEPTHS
from .records import Surgery, mask_record_no


class QualityEvent(Model):
    __tablename__ = "quality_events"
    __table_args__ = (
        UniqueConstraint("kind", "event_no"),
        Index("ix_quality_events_period", "kind", "event_date"),
        Index("ix_quality_events_date", "event_date"),
        Index("ix_quality_events_status", "status", "event_date"),
        Index("ix_quality_events_match", "mrn", "operation_date"),
    )

    kind: Mapped[str] = mapped_column(String(16))
    event_no: Mapped[str] = mapped_column(String(64))  # the file's id, or one made from the row's key
    status: Mapped[str] = mapped_column(String(12), default="unmatched")
    surgery_id: Mapped[int | None] = mapped_column(ForeignKey("quality_surgeries.id", ondelete="SET NULL"),
                                                   index=True)
    surgery_record_id: Mapped[str] = mapped_column(String(64), default="")
    mrn: Mapped[str] = mapped_column(String(32), default="")
    operation_date: Mapped[date | None] = mapped_column(Date)
    event_date: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200), default="")  # 并发症名称 / 感染诊断 / 再次手术名称
    ssi_depth: Mapped[str] = mapped_column(String(12), default="")
    reoperated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    interval_hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 1))  # from the end of the first operation
    note: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(8), default="import")

    surgery: Mapped[Surgery | None] = relationship(lazy="joined")

    @property
    def kind_label(self) -> str:
        return EVENT_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return EVENT_STATUSES.get(self.status, self.status)

    @property
    def ssi_label(self) -> str:
        return SSI_DEPTHS.get(self.ssi_depth, self.ssi_depth)

    @property
    def masked_mrn(self) -> str:
        return mask_record_no(self.mrn)
