"""Demo study records: a year of plans and records for the clinical departments, some of them behind."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time, timedelta

from portal.core.months import current_month, next_month, previous_month
from portal.core.timeutil import LOCAL_TZ, local_today
from portal.extensions import db

from .models import StudyAttendance, StudyPlan, StudyRecord, StudySession
from .plans import services as plans
from .records.services import department_staff

TOPICS = ["危急值报告制度", "病历书写规范", "抗菌药物合理使用", "心肺复苏培训", "院感防控要点", "核心制度解读",
          "疑难病例讨论", "新技术新项目介绍", "医疗纠纷防范", "输血安全管理", "临床路径管理", "手术安全核查"]
SPEAKERS = ["张伟", "刘洋", "周强", "郑海", "李秀英", "冯静"]


def _month_of(dept_code: str, month, this_month) -> str:
    """What the demo shows for a department-month: complete, partial, submitted, returned or none."""
    back = (this_month.year - month.year) * 12 + this_month.month - month.month
    if dept_code == "ZLK":
        return "none"  # never uploaded anything: behind
    if dept_code == "GK" and back <= 2:
        return "none" if back < 2 else "returned"
    if back == 0:
        return "submitted" if dept_code == "PTWK" else "approved"
    if back == 1 and dept_code == "PTWK":
        return "partial"
    return "complete"


def _review(demo, plan, code: str, state: str) -> None:
    from portal.approvals import services as approvals
    from portal.approvals.models import ApprovalInstance

    applicant = demo.users[{"PTWK": "zhouqiang", "GK": "zhenghai"}.get(code, "sunli")]
    plans.submit_plan(plan, applicant, "请审核本月业务学习计划。")
    if state == "returned":
        reviewer = demo.users["yiwu2"]
        task = approvals.open_task_for(db.session.get(ApprovalInstance, plan.approval_id), reviewer)
        approvals.act(task.id, reviewer, "return", "第二次学习请写明主讲人职称与参加对象。")


def build(demo) -> None:
    if "sunli" not in demo.users:
        return
    this_month = current_month(local_today())
    months = [this_month]
    for _ in range(11):
        months.append(previous_month(months[-1]))
    n = 0
    for code in ("XXGNK", "PTWK", "GK", "ZLK"):
        dept = demo.departments[code]
        staff = department_staff(dept.id)
        for month in reversed(months):
            state = _month_of(code, month, this_month)
            if state == "none":
                continue
            # Submitted and returned plans go through the engine: they wait in medical affairs' to-do list.
            status = "draft" if state in ("submitted", "returned") else "approved"
            plan = StudyPlan(department_id=dept.id, month=month, status=status, note="")
            db.session.add(plan)
            for k in range(2):
                n += 1
                day = month + timedelta(days=9 + k * 12)
                session = StudySession(plan=plan, day=day, topic=TOPICS[n % len(TOPICS)],
                                       speaker=SPEAKERS[n % len(SPEAKERS)], attendees="全科医护人员", hours=60)
                db.session.add(session)
                done = state == "complete" or (state == "partial" and k == 0)
                if not done or day > local_today():
                    continue
                record = StudyRecord(session=session, department_id=dept.id, month=month, held_on=day,
                                     starts_at=datetime.combine(day, time(16, 30), tzinfo=LOCAL_TZ).astimezone(UTC),
                                     minutes=60, topic=session.topic, speaker=session.speaker,
                                     summary=f"围绕“{session.topic}”进行讲解与讨论，结合本科室病例分析。",
                                     status="approved", signin_token=secrets.token_urlsafe(16))
                db.session.add(record)
                db.session.flush()
                for person in staff:
                    db.session.add(StudyAttendance(record_id=record.id, staff_id=person.id, held_on=day,
                                                   method="signin" if person.id % 2 else "ticked", late=False,
                                                   minutes=60, signed_at=record.starts_at))
            if state in ("submitted", "returned"):
                db.session.flush()
                _review(demo, plan, code, state)
    db.session.flush()
    # Next month's plan of cardiology as a draft, for the secretary to finish and submit.
    plans.plan_for(demo.departments["XXGNK"].id, next_month(this_month))
