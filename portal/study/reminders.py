"""The monthly reminder: on the configured day, departments without an approved plan for the coming month or
without records for the past month are told (in-app and a WeCom card), once per department and month."""

from __future__ import annotations

from datetime import date

from flask import current_app
from sqlalchemy import func, select

from portal.auth.models import Department
from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit
from portal.core.months import current_month, month_label, next_month, previous_month
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.notify.services import notify

from .models import StudyPlan, StudyRecord, StudyReminder


def reminder_day() -> int:
    return min(max(int(current_app.config.get("STUDY_REMINDER_DAY", 25)), 1), 28)


def behind(month: date) -> list[tuple[Department, bool, bool]]:
    """Active departments with (no approved plan for the next month, no records for the previous month)."""
    coming, past = next_month(month), previous_month(month)
    planned = set(db.session.scalars(select(StudyPlan.department_id).where(
        StudyPlan.month == coming, StudyPlan.status == "approved")))
    recorded = set(db.session.scalars(select(StudyRecord.department_id).where(
        StudyRecord.month == past, StudyRecord.status != "draft").group_by(StudyRecord.department_id)))
    result = []
    for dept in db.session.scalars(select(Department).where(Department.kind == "department", Department.is_active,
                                                            Department.clinical).order_by(Department.path)):
        no_plan, no_records = dept.id not in planned, dept.id not in recorded
        if no_plan or no_records:
            result.append((dept, no_plan, no_records))
    return result


def send_reminders(today: date | None = None) -> dict[str, int]:
    """Remind the departments behind, from the reminder day on; a department is reminded once a month."""
    today = today or local_today()
    if today.day < reminder_day():
        return {"reminded": 0, "skipped": 0}
    month = current_month(today)
    done = set(db.session.scalars(select(StudyReminder.department_id).where(StudyReminder.month == month)))
    reminded = skipped = 0
    for dept, no_plan, no_records in behind(month):
        if dept.id in done:
            skipped += 1
            continue
        missing = []
        if no_plan:
            missing.append(f"{month_label(next_month(month))}的学习计划尚未通过审核")
        if no_records:
            missing.append(f"{month_label(previous_month(month))}没有提交学习记录")
        people = active_user_ids_with_roles(("dept_head", "dept_secretary"), dept.id)
        db.session.add(StudyReminder(department_id=dept.id, month=month))
        db.session.flush()
        link = f"/study/departments/{dept.id}/{next_month(month):%Y-%m}" if no_plan else \
            f"/study/departments/{dept.id}/{previous_month(month):%Y-%m}"
        notify(people, "study", f"业务学习提醒：{dept.name}", "；".join(missing) + "。", link)
        audit.record("create", "study_reminder", dept.id, label=f"{dept.name} {month:%Y-%m}",
                     after={"missing": missing, "recipients": len(people)})
        reminded += 1
    return {"reminded": reminded, "skipped": skipped}


def reminders_sent(month: date) -> int:
    return db.session.scalar(select(func.count()).select_from(StudyReminder).where(StudyReminder.month == month))
