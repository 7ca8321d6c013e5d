"""The execution rate's in-time rule at its edge: completed before the local midnight after window_end is in
time, at that midnight or later it is late, on every day of a month (the rule is one expression in SQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.casemgmt.kpis import queries as kpis
from portal.casemgmt.models import CareTask
from portal.core import timeutil
from portal.extensions import db
from tests import cm_factories as cm

MONTH = date(2026, 10, 1)
TODAY = date(2026, 11, 15)


def _midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), timeutil.LOCAL_TZ).astimezone(UTC)


def _task(patient, window_end: date, completed_at: datetime) -> CareTask:
    task = CareTask(due_date=window_end, first_due_date=window_end, window_end=window_end, patient_id=patient.id,
                    source="pathway", task_type="phone_followup", title="出院后电话随访", status="done",
                    outcome="reached", completed_at=completed_at)
    db.session.add(task)
    return task


@pytest.fixture
def zone(request, monkeypatch):
    """The local zone for one test; the statements kept for the day are dropped before and after it."""
    caches = (kpis._counting_sql, kpis._execution_counts)
    for cached in caches:
        cached.cache_clear()
    monkeypatch.setattr(timeutil, "LOCAL_TZ", ZoneInfo(request.param))
    yield request.param
    for cached in caches:
        cached.cache_clear()


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"], indirect=True)
def test_in_time_means_before_the_local_midnight_after_the_window(session, zone):
    patient = cm.make_patient()
    expected = {"ontime": 0, "late": 0}
    for n in range(31):
        day = MONTH + timedelta(days=n)
        close = _midnight_after(day)
        _task(patient, day, close - timedelta(microseconds=1))  # the window's last instant: in time
        _task(patient, day, close)  # the next local day's first instant: late
        _task(patient, day, close - timedelta(hours=8, minutes=30))  # 15:30 local that day: in time
        expected["ontime"] += 2
        expected["late"] += 1
    db.session.commit()

    result = kpis.month_kpis(MONTH, today=TODAY)
    counts = {p.filters["state"]: p.count for p in result.execution.parts}
    assert (counts["ontime"], counts["late"]) == (expected["ontime"], expected["late"])
    drilled = db.session.scalars(kpis.execution_query(MONTH, "late", today=TODAY)).all()
    assert {t.completed_at for t in drilled} == {_midnight_after(MONTH + timedelta(days=n)) for n in range(31)}
    assert all(kpis.execution_state(t) == "late" for t in drilled)

    # The statement is reused from one request to the next; the figures are not: a late step now shows.
    _task(patient, MONTH, _midnight_after(MONTH) + timedelta(days=1))
    db.session.commit()
    again = kpis.month_kpis(MONTH, today=TODAY)
    assert {p.filters["state"]: p.count for p in again.execution.parts}["late"] == expected["late"] + 1
    assert kpis.kpi_for("execution", MONTH, today=TODAY).parts[1].count == expected["late"] + 1
