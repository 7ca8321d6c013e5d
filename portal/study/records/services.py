"""Study records: one per held session, with its minutes, photos and files, the attendance ticked by the
secretary, and its own review by medical affairs."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time

from sqlalchemy import delete, select

from portal.approvals import services as approvals
from portal.auth.models import Department, Staff, User
from portal.core import audit
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import LOCAL_TZ, format_date
from portal.extensions import db

from ..models import StudyAttendance, StudyRecord, StudySession
from ..plans.services import reopen

RECORD_FIELDS = ("held_on", "topic", "speaker", "minutes", "summary", "status")
EDITABLE = ("draft", "returned")


def department_staff(department_id: int) -> list[Staff]:
    """The active staff of a department and its wards: whom the secretary can tick."""
    dept = db.session.get(Department, department_id)
    return list(db.session.scalars(
        select(Staff).join(Department, Staff.department_id == Department.id)
        .where(Staff.is_active, (Department.id == dept.id) | Department.path.startswith(f"{dept.path}{dept.id}/"))
        .order_by(Staff.name, Staff.id)))


@atomic()
def start_record(session: StudySession, user: User, *, starts: time, minutes: int) -> StudyRecord:
    """Open the record of a planned session (at its planned day): sign-in opens around its start time."""
    plan = session.plan
    if plan.status != "approved":
        raise ServiceError("学习计划通过医务科审核后才能登记学习记录。", status=409)
    if session.record is not None:
        raise ServiceError("该学习已有记录。", status=409)
    if not 10 <= minutes <= 480:
        raise ServiceError("时长应在 10 至 480 分钟之间。", field="minutes")
    starts_at = datetime.combine(session.day, starts, tzinfo=LOCAL_TZ).astimezone(UTC)
    record = StudyRecord(session=session, department_id=plan.department_id, month=plan.month, held_on=session.day,
                         starts_at=starts_at, minutes=minutes, topic=session.topic, speaker=session.speaker,
                         summary="", status="draft", signin_token=secrets.token_urlsafe(16))
    db.session.add(record)
    db.session.flush()
    audit.record("create", "study_record", record.id, label=record.topic, after=audit.snapshot(record, RECORD_FIELDS))
    return record


def _check_editable(record: StudyRecord) -> None:
    if record.status not in EDITABLE:
        raise ServiceError(f"该学习记录{record.status_label}，不能修改。", status=409)


@atomic()
def update_record(record: StudyRecord, *, speaker: str, minutes: int, summary: str) -> StudyRecord:
    _check_editable(record)
    if not clean(speaker):
        raise ServiceError("请填写主讲人。", field="speaker")
    if not 10 <= minutes <= 480:
        raise ServiceError("时长应在 10 至 480 分钟之间。", field="minutes")
    before = audit.snapshot(record, RECORD_FIELDS)
    for person in record.attendance:  # each attendee's minutes follow the duration (a late one keeps the gap)
        person.minutes = max(0, minutes - (record.minutes - person.minutes))
    record.speaker, record.minutes, record.summary = clean(speaker)[:50], minutes, clean(summary)[:5000]
    audit.record("update", "study_record", record.id, label=record.topic, before=before,
                 after=audit.snapshot(record, RECORD_FIELDS))
    return record


@atomic()
def set_attendance(record: StudyRecord, staff_ids: set[int]) -> tuple[int, int]:
    """The secretary's ticks: staff of the department only; signed-in people stay unless unticked."""
    _check_editable(record)
    allowed = {s.id for s in department_staff(record.department_id)}
    present = {a.staff_id: a for a in record.attendance}
    foreign = staff_ids - allowed - set(present)
    if foreign:
        raise ServiceError("只能勾选本科室的人员。", field="staff_ids")
    added = 0
    for staff_id in sorted(staff_ids - set(present)):
        db.session.add(StudyAttendance(record_id=record.id, staff_id=staff_id, held_on=record.held_on,
                                       method="ticked", late=False, minutes=record.minutes))
        added += 1
    gone = set(present) - staff_ids
    if gone:
        db.session.execute(delete(StudyAttendance).where(StudyAttendance.record_id == record.id,
                                                         StudyAttendance.staff_id.in_(gone)))
    db.session.flush()
    db.session.expire(record, ["attendance"])
    audit.record("update", "study_attendance", record.id, label=record.topic,
                 changes={"added": added, "removed": len(gone)})
    return added, len(gone)


@atomic()
def submit_record(record: StudyRecord, user: User, files=()) -> StudyRecord:
    """Send the record (minutes, attendance, photos and files) to medical affairs."""
    _check_editable(record)
    if not record.attendance:
        raise ServiceError("请先登记出勤人员再提交。", field="summary")
    if not record.summary:
        raise ServiceError("请填写会议纪要再提交。", field="summary")
    before = audit.snapshot(record, RECORD_FIELDS)
    record.status = "submitted"
    comment = f"{format_date(record.held_on)} 出勤 {len(record.attendance)} 人"
    if reopen(record.approval_id, user):
        approvals.resubmit(record.approval_id, user, comment, files)
    else:
        instance = approvals.submit("study_record_review", entity_type="study_record", entity_id=record.id,
                                    title=f"{record.department.name}学习记录：{record.topic}", applicant=user,
                                    department_id=record.department_id, comment=comment, files=files)
        record.approval_id = instance.id
    audit.record("update", "study_record", record.id, label=record.topic, before=before,
                 after=audit.snapshot(record, RECORD_FIELDS))
    return record
