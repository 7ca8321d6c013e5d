"""Restricted-technology filings (限制类技术备案): the first case opens one, due 15 working days later.

《医疗技术临床应用管理办法》 arts. 10-11: a restricted technology is filed with the licensing authority within
15 working days of its first clinical case in the hospital, with the self-assessment, the committees' opinions
and the lead's credentials. One filing per technology (the first case happens once).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import Department, Staff
from portal.core.models import Base, IdMixin, Model, UTCDateTime
from portal.core.timeutil import utcnow

from .technologies import Technology

DEADLINE_WORKING_DAYS = 15
REMINDER_DAYS = (5, 3, 1)  # working days left at which medical affairs is reminded
URGENT_DAYS = 3  # working days left shown in red
FILING_STATES = {"open": "待备案", "complete": "材料齐全", "filed": "已备案"}
FILING_BADGE = {"open": "wait", "complete": "wait", "filed": "ok"}
DOCUMENT_SLOTS = {
    "self_assessment": "自我评估报告",
    "committee": "技术临床应用管理委员会审核意见",
    "ethics": "医学伦理委员会审核意见",
    "lead_credentials": "技术负责人资质证明",
}
SOURCES = {"manual": "手工登记", "surgery": "手术数据"}


class RestrictedFiling(Model):
    __tablename__ = "catalogue_filings"

    technology_id: Mapped[int] = mapped_column(ForeignKey("technologies.id", ondelete="RESTRICT"), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    surgeon_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"), index=True)
    first_case_date: Mapped[date] = mapped_column(Date)
    patient_record_no: Mapped[str] = mapped_column(String(32))  # 病案号 (masked in lists)
    deadline: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    filing_no: Mapped[str] = mapped_column(String(64), default="")
    filed_on: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="manual")

    technology: Mapped[Technology] = relationship(lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")
    surgeon: Mapped[Staff] = relationship(lazy="joined")
    documents: Mapped[list[FilingDocument]] = relationship(order_by="FilingDocument.id", lazy="selectin",
                                                           back_populates="filing")

    @property
    def status_label(self) -> str:
        return FILING_STATES[self.status]

    @property
    def badge_state(self) -> str:
        return FILING_BADGE[self.status]

    def is_overdue(self, today: date) -> bool:
        return self.status != "filed" and self.deadline < today

    def slots(self) -> list[tuple[str, str, list[FilingDocument]]]:
        return [(code, label, [d for d in self.documents if d.slot == code]) for code, label in DOCUMENT_SLOTS.items()]

    @property
    def missing_slots(self) -> list[str]:
        present = {d.slot for d in self.documents}
        return [label for code, label in DOCUMENT_SLOTS.items() if code not in present]


class FilingDocument(Base, IdMixin):
    """One uploaded document of a filing (type and size checked like every attachment; kept in the database)."""

    __tablename__ = "catalogue_filing_documents"

    filing_id: Mapped[int] = mapped_column(ForeignKey("catalogue_filings.id", ondelete="CASCADE"), index=True)
    slot: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    filing: Mapped[RestrictedFiling] = relationship(back_populates="documents")

    @property
    def slot_label(self) -> str:
        return DOCUMENT_SLOTS.get(self.slot, self.slot)

    @property
    def inline(self) -> bool:
        return self.content_type.startswith("image/") or self.content_type == "application/pdf"


class CatalogueReminder(Base, IdMixin):
    """A reminder already sent (filing or new-tech report, threshold): the daily job sends each once."""

    __tablename__ = "catalogue_reminders"
    __table_args__ = (UniqueConstraint("subject", "subject_id", "threshold"),)

    subject: Mapped[str] = mapped_column(String(16))  # filing / report
    subject_id: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _register_labels() -> None:
    from portal.core import labels

    labels.register_values("catalogue_filing", "status", FILING_STATES)
    labels.register_fields("catalogue_filing", {
        "technology_id": "技术", "department_id": "科室", "surgeon_staff_id": "术者", "first_case_date": "首例日期",
        "patient_record_no": "病案号", "deadline": "备案期限", "status": "状态", "filing_no": "备案号",
        "filed_on": "备案日期", "slot": "材料", "filename": "文件名"})


_register_labels()
