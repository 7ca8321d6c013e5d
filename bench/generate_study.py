"""Study records over the whole history: every clinical department's monthly plan with two sessions, a record per
held session and about ten attendees each; the last months partly behind (submitted, returned, partial, none)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from portal.auth.models import Staff
from portal.core.months import current_month, previous_month
from portal.core.timeutil import LOCAL_TZ
from portal.study.models import StudyAttendance, StudyPlan, StudyRecord, StudySession

from .kit import Context

TOPICS = ("危急值报告制度", "病历书写规范", "抗菌药物合理使用", "心肺复苏培训", "院感防控要点", "核心制度解读",
          "疑难病例讨论", "新技术新项目介绍")
ATTENDEES = 10


def _state(d: int, back: int) -> str:
    """complete for the history; in the last three months some departments behind, in every state."""
    if back >= 3:
        return "complete" if (d + back) % 23 else "partial"
    return ("complete", "partial", "approved", "submitted", "returned", "none")[(d + back) % 6]


def generate(ctx: Context) -> dict:
    depts = ctx.ids["departments"]
    months_back = max(1, ctx.scale.days * 12 // 365)
    staff: dict[int, list[int]] = {d: [] for d in depts}
    for sid, dept in ctx.connection.execute(select(Staff.id, Staff.department_id).where(
            Staff.department_id.in_(depts)).order_by(Staff.id)):
        staff[dept].append(sid)
    months = [current_month(ctx.today)]
    for _ in range(months_back - 1):
        months.append(previous_month(months[-1]))
    plan_rows, plan_meta = [], []
    for d, dept in enumerate(depts):
        for back, month in enumerate(months):
            state = _state(d, back)
            if state == "none":
                continue
            status = {"submitted": "submitted", "returned": "returned"}.get(state, "approved")
            created = ctx.at(previous_month(month) + timedelta(days=24), 9)
            plan_rows.append((dept, month, status, "", created, created))
            plan_meta.append((d, dept, month, state))
    plan_ids = ctx.bulk(StudyPlan, ("department_id", "month", "status", "note", "created_at", "updated_at"), plan_rows)
    session_rows, session_meta = [], []
    for pid, (d, dept, month, state) in zip(plan_ids, plan_meta, strict=True):
        for k in range(2):
            day = month + timedelta(days=8 + k * 12)
            session_rows.append((pid, day, TOPICS[(d + k + month.month) % len(TOPICS)], f"主讲{d:03d}", "全科医护", 60))
            held = state == "complete" or (state == "partial" and k == 0) or (state == "returned" and k == 0)
            session_meta.append((dept, month, day, state, held and day <= ctx.today))
    session_ids = ctx.bulk(StudySession, ("plan_id", "day", "topic", "speaker", "attendees", "hours"), session_rows)
    record_rows, record_meta = [], []
    for n, (sid, (dept, month, day, state, held)) in enumerate(zip(session_ids, session_meta, strict=True)):
        if not held:
            continue
        starts = datetime.combine(day, time(16, 30), tzinfo=LOCAL_TZ).astimezone(UTC)
        status = "returned" if state == "returned" else "approved"
        record_rows.append((sid, dept, month, day, starts, 60, "学习记录", f"主讲{dept}", "讲解与讨论。", status,
                            f"b{n:010d}", starts, starts))
        record_meta.append((dept, day, starts))
    record_ids = ctx.bulk(StudyRecord, ("session_id", "department_id", "month", "held_on", "starts_at", "minutes",
                                        "topic", "speaker", "summary", "status", "signin_token", "created_at",
                                        "updated_at"), record_rows)
    attendance = []
    for n, (rid, (dept, day, starts)) in enumerate(zip(record_ids, record_meta, strict=True)):
        people = staff[dept]
        if not people:
            continue
        chosen = {people[(n + k * 3) % len(people)] for k in range(min(ATTENDEES, len(people)))}
        for k, sid in enumerate(sorted(chosen)):
            late = k == 0 and n % 4 == 0
            attendance.append((rid, sid, day, "signin" if k % 2 else "ticked", late, 45 if late else 60,
                               starts + timedelta(minutes=15 if late else -5)))
    ctx.bulk(StudyAttendance, ("record_id", "staff_id", "held_on", "method", "late", "minutes", "signed_at"),
             attendance)
    return {"study plans": len(plan_ids), "study sessions": len(session_ids), "study records": len(record_ids),
            "study attendance": len(attendance)}
