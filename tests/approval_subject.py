"""A small approval subject for the engine's tests: a staff record "submitted for review"."""

from __future__ import annotations

from portal.approvals import subjects
from portal.approvals.subjects import Summary
from portal.auth.models import Staff
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
