"""A small approval subject for the engine's tests: a staff record "submitted for review"."""

from __future__ import annotations

from portal.approvals import subjects
from portal.approvals.seed import ensure_processes
from portal.approvals.subjects import Summary
from portal.auth.models import Staff
from portal.core.domains import Process, Step
from portal.extensions import db

OUTCOMES: list[tuple[str, int]] = []


class StaffReview:
    entity_type = "staff_review"
    label = "人员档案审核"

    def summary(self, entity_id: int) -> Summary | None:
        staff = db.session.get(Staff, entity_id)
        if staff is None:
            return None
        return Summary(title=staff.name, url=f"/admin/staff/{staff.id}",
                       facts=[("工号", staff.employee_no), ("科室", staff.department.name)])

    def on_approved(self, entity_id, instance):
        OUTCOMES.append(("approved", entity_id))

    def on_rejected(self, entity_id, instance):
        OUTCOMES.append(("rejected", entity_id))

    def on_returned(self, entity_id, instance):
        OUTCOMES.append(("returned", entity_id))

    def on_withdrawn(self, entity_id, instance):
        OUTCOMES.append(("withdrawn", entity_id))


subjects.register(StaffReview())


# The engine's tests run on sign-offs shaped like the requirements' own; their codes (t_…) never meet a domain's.
PROCESSES = [
    Process("t_qualification", "资质审核", "医师资质材料审核", True,
            [Step("科主任审核", "dept_head", hours=48), Step("医务科审核", "role", "ma_staff", hours=72)]),
    Process("t_privilege", "手术/技术授权", "医师手术分级与技术授权", True,
            [Step("科主任审核", "dept_head", hours=48), Step("医务科审核", "role", "ma_staff", hours=72),
             Step("委员会审议", "committee", "tech", "all", hours=168)]),
    Process("t_study_record", "业务学习记录", "科室业务学习记录审核", True,
            [Step("科主任审核", "dept_head", hours=72)]),
    Process("t_project_submission", "医务项目申报", "医务项目申报审批", True,
            [Step("科主任审核", "dept_head", hours=48), Step("医务科审批", "role", "ma_admin", hours=72)]),
    Process("t_budget_change", "项目预算调整", "项目预算调整审批", False,
            [Step("科主任审核", "dept_head", hours=48), Step("医务科审批", "role", "ma_admin", hours=72)]),
]


def ensure_test_processes() -> None:
    ensure_processes(PROCESSES)
