"""Restricted-technology filings: the first case opens a filing due 15 working days later; the documents,
the filing itself, and the reminders to medical affairs at 5, 3 and 1 working days left.

``open_filing`` takes plain values, so the quality domain calls it from the surgery data with
``source="surgery"``, exactly as the form does by hand.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.approvals.services import check_upload
from portal.auth.models import Department, Staff, User
from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit, workdays
from portal.core.scoping import scope_query
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import format_date, local_today
from portal.extensions import db
from portal.notify.services import notify

from .. import VIEW
from ..models import CatalogueReminder, FilingDocument, RestrictedFiling, Technology
from ..models.filings import DEADLINE_WORKING_DAYS, DOCUMENT_SLOTS, REMINDER_DAYS

FIELDS = ("technology_id", "department_id", "surgeon_staff_id", "first_case_date", "deadline", "status",
          "filing_no", "filed_on", "source")
RECORD_NO = re.compile(r"^[0-9A-Za-z-]{4,32}$")
MEDICAL_AFFAIRS = ("ma_admin", "ma_staff")
MAX_DOCUMENTS_PER_SLOT = 5


def mask_record_no(number: str) -> str:
    """病案号 as lists show it: the first two and last two characters."""
    if len(number) <= 4:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 4) + number[-2:]


def _snapshot(filing: RestrictedFiling) -> dict:
    return {**audit.snapshot(filing, FIELDS), "patient_record_no": mask_record_no(filing.patient_record_no)}


def restricted_technologies() -> list[tuple[int, str]]:
    """Active restricted entries as form choices, those with a filing marked (choosing one says why not)."""
    rows = db.session.execute(select(Technology.id, Technology.code, Technology.name, RestrictedFiling.id)
                              .outerjoin(RestrictedFiling, RestrictedFiling.technology_id == Technology.id)
                              .where(Technology.restricted.is_(True), Technology.status == "active")
                              .order_by(RestrictedFiling.id.is_not(None), Technology.code))
    return [(tid, f"{code} {name}" + ("（已登记首例）" if filing else "")) for tid, code, name, filing in rows]


def staff_id_by_employee_no(employee_no: str | None, field: str) -> int:
    staff_id = db.session.scalar(select(Staff.id).where(Staff.employee_no == clean(employee_no)))
    if staff_id is None:
        raise ServiceError("找不到该工号的人员，请核对术者工号。", field=field)
    return staff_id


def filing_of(technology_id: int) -> RestrictedFiling | None:
    return db.session.scalar(select(RestrictedFiling).where(RestrictedFiling.technology_id == technology_id))


@atomic()
def open_filing(*, technology_id: int | None, first_case_date: date | None, patient_record_no: str | None,
                surgeon_staff_id: int | None, department_id: int | None, source: str = "manual",
                today: date | None = None) -> RestrictedFiling:
    """Record the first clinical case of a restricted technology and open its filing (due in 15 working days)."""
    today = today or local_today()
    tech = db.session.get(Technology, technology_id) if technology_id else None
    if tech is None:
        raise ServiceError("请选择限制类技术。", field="technology_id")
    if not tech.restricted:
        raise ServiceError(f"“{tech.name}”不是限制类技术，无需备案。", field="technology_id")
    existing = filing_of(tech.id)
    if existing is not None:
        raise ServiceError(f"“{tech.name}”已于 {format_date(existing.first_case_date)} 登记首例病例"
                           f"（备案{existing.status_label}），不能重复登记。", field="technology_id", status=409)
    if first_case_date is None:
        raise ServiceError("请填写首例日期（如 2026-11-20）。", field="first_case_date")
    if first_case_date > today:
        raise ServiceError("首例日期不能晚于今天。", field="first_case_date")
    if (today - first_case_date).days > 366:
        raise ServiceError("首例日期不能早于一年前，请核对。", field="first_case_date")
    number = clean(patient_record_no)
    if not RECORD_NO.fullmatch(number):
        raise ServiceError("病案号应为 4–32 位数字或字母。", field="patient_record_no")
    surgeon = db.session.get(Staff, surgeon_staff_id) if surgeon_staff_id else None
    if surgeon is None or not surgeon.is_active:
        raise ServiceError("请选择在职的术者（按工号或姓名）。", field="surgeon_staff_id")
    dept = db.session.get(Department, department_id) if department_id else None
    if dept is None or not dept.is_active or dept.kind not in ("department", "ward"):
        raise ServiceError("请选择一个在用的科室或病区。", field="department_id")
    filing = RestrictedFiling(technology_id=tech.id, department_id=dept.id, surgeon_staff_id=surgeon.id,
                              first_case_date=first_case_date, patient_record_no=number, source=source,
                              deadline=workdays.add_working_days(first_case_date, DEADLINE_WORKING_DAYS),
                              status="open")
    try:
        with db.session.begin_nested():
            db.session.add(filing)
    except IntegrityError:  # another request recorded the same first case a moment earlier
        raise ServiceError(f"“{tech.name}”刚刚已由他人登记首例病例，请刷新后查看。", field="technology_id",
                           status=409) from None
    audit.record("create", "catalogue_filing", filing.id, label=tech.name, after=_snapshot(filing))
    left = workdays.working_days_between(today, filing.deadline)
    notify(active_user_ids_with_roles(MEDICAL_AFFAIRS), "catalogue", f"限制类技术首例：{tech.name}",
           f"首例 {format_date(first_case_date)}，应于 {format_date(filing.deadline)} 前完成备案"
           f"（还剩 {left} 个工作日）。",
           f"/catalogue/filings/{filing.id}")
    return filing


def _refresh_status(filing: RestrictedFiling) -> None:
    if filing.status == "filed":
        return
    filing.status = "open" if filing.missing_slots else "complete"


@atomic()
def add_document(filing: RestrictedFiling, slot: str, upload: tuple[str, bytes] | None, user: User) -> FilingDocument:
    """Attach a document to one of the filing's slots (PDF, image or Excel, 10 MB at most)."""
    if filing.status == "filed":
        raise ServiceError("该技术已备案，材料不能再修改。", status=409)
    if slot not in DOCUMENT_SLOTS:
        raise ServiceError("请选择材料类型。", field="slot")
    if upload is None or not upload[1]:
        raise ServiceError("请选择要上传的文件。", field="attachments")
    if sum(1 for d in filing.documents if d.slot == slot) >= MAX_DOCUMENTS_PER_SLOT:
        raise ServiceError(f"每类材料最多 {MAX_DOCUMENTS_PER_SLOT} 个文件，请先删除不需要的文件。", field="attachments")
    filename, content = upload
    content_type = check_upload(filename, content)
    before = filing.status
    doc = FilingDocument(filing=filing, slot=slot, filename=clean(filename)[-200:], content_type=content_type,
                         size=len(content), sha256=hashlib.sha256(content).hexdigest(), content=content,
                         uploaded_by_id=user.id)
    db.session.add(doc)
    db.session.flush()
    _refresh_status(filing)
    audit.record("create", "catalogue_filing", filing.id, label=filing.technology.name,
                 changes={"document": {"before": None, "after": f"{doc.slot_label}：{doc.filename}"},
                          **({"status": {"before": before, "after": filing.status}} if before != filing.status
                             else {})})
    return doc


def remove_document(doc: FilingDocument) -> None:
    filing = doc.filing
    if filing.status == "filed":
        raise ServiceError("该技术已备案，材料不能再修改。", status=409)
    before = filing.status
    label = f"{doc.slot_label}：{doc.filename}"
    filing.documents.remove(doc)
    db.session.delete(doc)
    db.session.flush()
    _refresh_status(filing)
    audit.record("delete", "catalogue_filing", filing.id, label=filing.technology.name,
                 changes={"document": {"before": label, "after": None},
                          **({"status": {"before": before, "after": filing.status}} if before != filing.status
                             else {})})


@atomic()
def record_filing(filing: RestrictedFiling, *, filing_no: str | None, filed_on: date | None,
                  today: date | None = None) -> RestrictedFiling:
    """Record that the technology was filed with the licensing authority: the number and the date."""
    today = today or local_today()
    if filing.status == "filed":
        raise ServiceError("该技术已登记备案。", status=409)
    if filing.missing_slots:
        raise ServiceError("备案材料不全，尚缺：" + "、".join(filing.missing_slots) + "。", field="filing_no")
    number = clean(filing_no)
    if not number or len(number) > 64:
        raise ServiceError("请填写备案号（不超过 64 个字符）。", field="filing_no")
    if filed_on is None:
        raise ServiceError("请填写备案日期。", field="filed_on")
    if filed_on > today or filed_on < filing.first_case_date:
        raise ServiceError("备案日期应在首例日期与今天之间。", field="filed_on")
    before = _snapshot(filing)
    filing.filing_no, filing.filed_on, filing.status = number, filed_on, "filed"
    audit.record("update", "catalogue_filing", filing.id, label=filing.technology.name, before=before,
                 after=_snapshot(filing))
    return filing


def list_query(principal, status: str = "", overdue: bool = False, today: date | None = None):
    """Filings in the departments the principal may view, nearest deadline first."""
    today = today or local_today()
    stmt = scope_query(select(RestrictedFiling), RestrictedFiling.department_id, principal, VIEW)
    if status:
        stmt = stmt.where(RestrictedFiling.status == status)
    if overdue:
        stmt = stmt.where(RestrictedFiling.status != "filed", RestrictedFiling.deadline < today)
    return stmt.order_by((RestrictedFiling.status == "filed"), RestrictedFiling.deadline, RestrictedFiling.id)


def days_left(filing: RestrictedFiling, today: date | None = None, calendar: workdays.Calendar | None = None) -> int:
    """Working days from today to the deadline (0 on the day, negative once passed)."""
    today = today or local_today()
    if calendar is not None:
        return calendar.between(today, filing.deadline)
    return workdays.working_days_between(today, filing.deadline)


def calendar_for(filings, today: date) -> workdays.Calendar:
    """One calendar covering today and every deadline of a page of filings (one query for the page)."""
    dates = [today, *(f.deadline for f in filings)]
    return workdays.Calendar(min(dates), max(dates))


def remind_due(today: date | None = None) -> dict[str, int]:
    """Remind medical affairs of filings at 5, 3 and 1 working days left: once per filing per threshold.

    A day the job did not run is caught up on its next run (one message for every threshold passed meanwhile).
    """
    today = today or local_today()
    sent = 0
    people = None
    filings = db.session.scalars(select(RestrictedFiling).where(RestrictedFiling.status != "filed")
                                 .order_by(RestrictedFiling.deadline)).all()
    for filing in filings:
        left = days_left(filing, today)
        crossed = [t for t in REMINDER_DAYS if left <= t]
        if not crossed:
            continue
        done = set(db.session.scalars(select(CatalogueReminder.threshold).where(
            CatalogueReminder.subject == "filing", CatalogueReminder.subject_id == filing.id)))
        todo = [t for t in crossed if t not in done]
        if not todo:
            continue
        for threshold in todo:
            db.session.add(CatalogueReminder(subject="filing", subject_id=filing.id, threshold=threshold))
        db.session.flush()
        if people is None:
            people = active_user_ids_with_roles(MEDICAL_AFFAIRS)
        when = f"还剩 {left} 个工作日" if left > 0 else ("今天到期" if left == 0 else f"已超期 {-left} 个工作日")
        missing = "、".join(filing.missing_slots) or "无（材料已齐全，请尽快报送）"
        notify(people, "catalogue", f"限制类技术备案{when}：{filing.technology.name}",
               f"备案期限 {format_date(filing.deadline)}；尚缺材料：{missing}。", f"/catalogue/filings/{filing.id}")
        sent += 1
    return {"filings": len(filings), "reminded": sent}
