"""Study records (业务学习): monthly plans, their sessions, the records after each session, attendance."""

from .study import (
    ATTENDANCE_METHODS,
    CELL_BADGE,
    CELL_STATES,
    STATE_BADGE,
    STATES,
    StudyAttendance,
    StudyPlan,
    StudyRecord,
    StudyReminder,
    StudySession,
)

__all__ = ["ATTENDANCE_METHODS", "CELL_BADGE", "CELL_STATES", "STATES", "STATE_BADGE", "StudyAttendance",
           "StudyPlan", "StudyRecord", "StudyReminder", "StudySession"]
