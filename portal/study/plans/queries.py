"""What the department-month page reads: the plan's sessions with their records in one query."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from portal.extensions import db

from ..matrix.queries import Cell, cell_state
from ..models import STATE_BADGE, STATES, StudyAttendance, StudyPlan, StudyRecord, StudySession


@dataclass(frozen=True)
class SessionRow:
    """A planned session and, once held, its record's id, state and attendance."""

    session: StudySession
    record_id: int | None
    record_status: str | None
    attendance: int

    @property
    def record_label(self) -> str:
        return STATES[self.record_status] if self.record_status else ""

    @property
    def record_badge(self) -> str:
        return STATE_BADGE[self.record_status] if self.record_status else ""


def session_rows(plan: StudyPlan | None) -> list[SessionRow]:
    """The plan's sessions by day, each with its record (if any) and how many attended."""
    if plan is None:
        return []
    attended = (select(func.count()).where(StudyAttendance.record_id == StudyRecord.id).correlate(StudyRecord)
                .scalar_subquery())
    stmt = (select(StudySession, StudyRecord.id, StudyRecord.status, attended)
            .outerjoin(StudyRecord, StudyRecord.session_id == StudySession.id)
            .where(StudySession.plan_id == plan.id).order_by(StudySession.day, StudySession.id))
    return [SessionRow(s, rid, status, int(count or 0) if rid else 0)
            for s, rid, status, count in db.session.execute(stmt)]


def month_cell(plan: StudyPlan | None, rows: list[SessionRow]) -> Cell | None:
    """The month's cell of the matrix, from the rows already read (the same rule as the matrix)."""
    if plan is None:
        return None
    records = [r.record_status for r in rows if r.record_id]
    approved, returned = records.count("approved"), records.count("returned")
    return Cell(plan.department_id, plan.month, cell_state(plan.status, len(rows), len(records), approved, returned),
                len(rows), len(records), approved)
