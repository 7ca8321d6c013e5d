"""Case management's summaries, recomputed by ``cli.py rebuild-summaries``: the ledger's month summaries (one month
or all), and, when all are rebuilt, the (case manager, patient) pairs of tasks that patient visibility reads
(kept by triggers on care_tasks; rebuilt after tasks were changed behind the application's back)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, text

from portal.extensions import db

from .ledger import summary as ledger_summary
from .models import CareTaskPatient

PAIRS_SQL = ("INSERT INTO care_task_patients (case_manager_id, patient_id, tasks) "
             "SELECT case_manager_id, patient_id, count(*) FROM care_tasks "
             "WHERE case_manager_id IS NOT NULL GROUP BY case_manager_id, patient_id")


def rebuild(month: date | None = None) -> int:
    """Returns the ledger's month rows written."""
    written = ledger_summary.rebuild(month)
    if month is None:
        db.session.execute(delete(CareTaskPatient))
        db.session.execute(text(PAIRS_SQL))
    return written
