"""The rule of "carried out in time" for a pathway step: completed before the local day after its window ends,
as one SQL expression on the task's columns (the KPI dashboard, its drill-down and its reports share it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Integer, case, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from portal.core.models import UTCDateTime
from portal.core.timeutil import local_day_bounds

from ..models import CareTask


class _DayAfter(FunctionElement):
    """A date column plus a number of seconds, as a UTC timestamp (the dialects below spell it)."""

    type = UTCDateTime()
    name = "day_after"
    inherit_cache = True


@compiles(_DayAfter)
def _day_after_sqlite(element, compiler, **kw):
    day, seconds = element.clauses
    # SQLite keeps UTC timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text, which datetime()'s output compares with.
    return f"datetime({compiler.process(day, **kw)}, '+' || {compiler.process(seconds, **kw)} || ' seconds')"


@compiles(_DayAfter, "postgresql")
def _day_after_postgresql(element, compiler, **kw):
    day, seconds = element.clauses
    return (f"timezone('UTC', {compiler.process(day, **kw)} + "
            f"{compiler.process(seconds, **kw)} * interval '1 second')")


def window_close(start: date, end: date):
    """Per task, the UTC instant at which the local day after its window_end begins (completed before = in time).

    That instant is window_end + (1 day - the UTC offset): one expression on the indexed columns. Asia/Shanghai
    keeps one offset, so the shift is one number; only a period across an offset change needs one per day."""
    def shift(day: date) -> int:
        return int((local_day_bounds(day)[1] - datetime.combine(day, time(), UTC)).total_seconds())

    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    shifts = {day: shift(day) for day in days} or {start: shift(start)}
    if len(set(shifts.values())) == 1:
        return _DayAfter(CareTask.window_end, literal(shifts[start], Integer()))
    return _DayAfter(CareTask.window_end, case({day: literal(n, Integer()) for day, n in shifts.items()},
                                               value=CareTask.window_end))
