"""Signing in on the phone, and the study hours each person has earned in a year."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.auth.models import User
from portal.core import audit
from portal.core.service import ServiceError
from portal.core.timeutil import format_datetime, utcnow
from portal.extensions import db

from ..models import StudyAttendance, StudyRecord

OPENS_BEFORE = timedelta(minutes=30)  # sign-in opens half an hour before the start
LATE_AFTER = timedelta(minutes=10)  # after ten minutes a sign-in is marked late


def window(record: StudyRecord) -> tuple[datetime, datetime]:
    """When sign-in is open: from half an hour before the start to the end of the session."""
    return record.starts_at - OPENS_BEFORE, record.starts_at + timedelta(minutes=record.minutes)


def record_by_token(token: str) -> StudyRecord | None:
    if not token or len(token) > 32:
        return None
    return db.session.scalar(select(StudyRecord).where(StudyRecord.signin_token == token))


def own_attendance(record: StudyRecord, staff_id: int | None) -> StudyAttendance | None:
    if staff_id is None:
        return None
    return db.session.scalar(select(StudyAttendance).where(StudyAttendance.record_id == record.id,
                                                           StudyAttendance.staff_id == staff_id))


def sign_in(record: StudyRecord, user: User, now: datetime | None = None) -> tuple[StudyAttendance, bool]:
    """The signed-in portal user signs in to the session: (their attendance, whether it is new).

    Nobody signs in for someone else: the attendee is always `user`'s own staff record. Signing in twice, or
    twice at once from two taps, leaves one row (the unique key decides the race)."""
    now = now or utcnow()
    if user.staff_id is None:
        raise ServiceError("您的账户没有关联人员档案，不能签到。请联系科室秘书勾选出勤。", status=403)
    existing = own_attendance(record, user.staff_id)
    if existing is not None:
        return existing, False
    if record.status not in ("draft", "returned"):
        raise ServiceError("该学习记录已提交审核，签到已结束。", status=409)
    opens, closes = window(record)
    if not opens <= now <= closes:
        span = f"{format_datetime(opens)} 至 {format_datetime(closes, '%H:%M')}"
        raise ServiceError(f"不在签到时间内：签到时间为 {span}，现在不能签到。", status=409)
    late = now > record.starts_at + LATE_AFTER
    missed = max(0, int((now - record.starts_at).total_seconds() // 60)) if late else 0
    attendance = StudyAttendance(record_id=record.id, staff_id=user.staff_id, held_on=record.held_on,
                                 method="signin", late=late, minutes=max(record.minutes - missed, 0), signed_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(attendance)
    except IntegrityError:
        existing = own_attendance(record, user.staff_id)
        if existing is None:
            raise
        return existing, False
    audit.record("create", "study_attendance", attendance.id, label=record.topic,
                 after={"staff_id": user.staff_id, "late": late, "minutes": attendance.minutes})
    return attendance, True


def study_hours(staff_id: int, year: int) -> float:
    """Study hours a person earned in a year: attendance at records medical affairs approved, in hours."""
    return study_hours_by_year(staff_id, (year,))[year]


def study_hours_by_year(staff_id: int, years) -> dict[int, float]:
    """`study_hours` for several years in one query (the capability page shows this year and last)."""
    years = sorted(set(years), reverse=True)
    minutes = {year: 0 for year in years}
    if years:
        year = func.extract("year", StudyAttendance.held_on)
        for found, total in db.session.execute(
                select(year, func.sum(StudyAttendance.minutes))
                .join(StudyRecord, StudyRecord.id == StudyAttendance.record_id)
                .where(StudyAttendance.staff_id == staff_id, StudyRecord.status == "approved",
                       StudyAttendance.held_on >= date(years[-1], 1, 1),
                       StudyAttendance.held_on < date(years[0] + 1, 1, 1))
                .group_by(year)):
            if int(found) in minutes:
                minutes[int(found)] = int(total or 0)
    return {year: round(value / 60, 1) for year, value in minutes.items()}


def my_sessions(staff_id: int, year: int) -> list[tuple[StudyAttendance, StudyRecord]]:
    """A person's sessions of a year, newest first, with their records (for the "my hours" page)."""
    return list(db.session.execute(
        select(StudyAttendance, StudyRecord).join(StudyRecord, StudyRecord.id == StudyAttendance.record_id)
        .where(StudyAttendance.staff_id == staff_id, StudyAttendance.held_on >= date(year, 1, 1),
               StudyAttendance.held_on < date(year + 1, 1, 1))
        .order_by(StudyAttendance.held_on.desc(), StudyAttendance.id.desc())).all())
