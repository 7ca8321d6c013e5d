"""Plans and records as subjects of the approval engine: medical affairs approves or returns them with a comment."""

from __future__ import annotations

from portal.approvals import subjects
from portal.approvals.subjects import Summary
from portal.core.months import month_label
from portal.core.timeutil import format_date
from portal.extensions import db

from .models import StudyPlan, StudyRecord


def plan_url(plan: StudyPlan) -> str:
    return f"/study/departments/{plan.department_id}/{plan.month:%Y-%m}"


class _Reviewed:
    model: type

    def _set(self, entity_id: int, status: str) -> None:
        item = db.session.get(self.model, entity_id)
        if item is not None:
            item.status = status

    def on_approved(self, entity_id, instance):
        self._set(entity_id, "approved")

    def on_returned(self, entity_id, instance):
        self._set(entity_id, "returned")

    def on_rejected(self, entity_id, instance):
        self._set(entity_id, "returned")
        item = db.session.get(self.model, entity_id)
        if item is not None:
            item.approval_id = None  # a rejected review needs a new submission

    def on_withdrawn(self, entity_id, instance):
        self._set(entity_id, "draft")


class PlanSubject(_Reviewed):
    entity_type = "study_plan"
    label = "学习计划"
    model = StudyPlan

    def summary(self, entity_id: int) -> Summary | None:
        plan = db.session.get(StudyPlan, entity_id)
        if plan is None:
            return None
        facts = [("科室", plan.department.name), ("月份", month_label(plan.month)), ("说明", plan.note or "—")]
        facts += [(f"{format_date(s.day)}", f"{s.topic}（主讲：{s.speaker}；对象：{s.attendees or '全科'}）")
                  for s in plan.sessions]
        return Summary(title=f"{plan.department.name}{month_label(plan.month)}学习计划", url=plan_url(plan),
                       facts=facts)


class RecordSubject(_Reviewed):
    entity_type = "study_record"
    label = "学习记录"
    model = StudyRecord

    def summary(self, entity_id: int) -> Summary | None:
        record = db.session.get(StudyRecord, entity_id)
        if record is None:
            return None
        return Summary(title=f"{record.department.name}学习记录：{record.topic}", url=f"/study/records/{record.id}",
                       facts=[("科室", record.department.name), ("日期", format_date(record.held_on)),
                              ("主讲人", record.speaker), ("时长", f"{record.minutes} 分钟"),
                              ("出勤人数", str(len(record.attendance))), ("会议纪要", record.summary or "—")])


subjects.register(PlanSubject())
subjects.register(RecordSubject())
