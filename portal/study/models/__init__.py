"""Study records (业务学习): monthly plans, their sessions, the records after each session, attendance."""

from .study import (
    ATTENDANCE_METHODS,
    CELL_BADGE,
    CELL_STATES,
    MATRIX_WATCHED_TABLES,
    STATE_BADGE,
    STATES,
    StudyAttendance,
    StudyGeneration,
    StudyPlan,
    StudyRecord,
    StudyReminder,
    StudySession,
)

__all__ = ["ATTENDANCE_METHODS", "CELL_BADGE", "CELL_STATES", "MATRIX_WATCHED_TABLES", "STATES", "STATE_BADGE",
           "StudyAttendance", "StudyGeneration", "StudyPlan", "StudyRecord", "StudyReminder", "StudySession"]
