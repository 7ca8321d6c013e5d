"""The Chinese working-day calendar (工作日): statutory holidays and adjusted working days (调休).

The ``chinese-calendar`` package knows the State Council's arrangements up to the year it was released for;
an administrator enters the next year's arrangement here (``workday_adjustments``) when the package lags, and
an entry always wins over the package. A date in a year that neither the package nor any entry covers is
counted by weekends alone, and ``uncovered_years`` / ``warning`` say so: the caller shows the warning rather
than letting a deadline look exact when it is a guess.

Any domain may use these functions; they read the table once per call, so a deadline over a month costs one
small query.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
from sqlalchemy import Boolean, Date, String, select
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db

from . import audit
from .models import Model
from .service import ServiceError, clean

MIN_YEAR, MAX_YEAR = 2000, 2199
MAX_SPAN_DAYS = 3 * 366  # the longest range the counting functions accept (a bad date must not spin)


class WorkdayAdjustment(Model):
    """An administrator's entry for one date: a working day (调休上班) or a day off (法定节假日)."""

    __tablename__ = "workday_adjustments"

    day: Mapped[date] = mapped_column(Date, unique=True)
    is_working_day: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(100), default="")

    @property
    def kind_label(self) -> str:
        return "上班（调休）" if self.is_working_day else "休息（节假日）"


@lru_cache(maxsize=1)
def package_years() -> tuple[int, int]:
    """The first and last year the installed package has the official arrangement for."""
    first = last = date.today().year
    while first > MIN_YEAR and _package_knows(first - 1):
        first -= 1
    while last < MAX_YEAR and _package_knows(last + 1):
        last += 1
    if not _package_knows(last):  # a package older than this year: find its last year downwards
        while last > MIN_YEAR and not _package_knows(last):
            last -= 1
    return first, last


def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _adjustments(first: date, last: date) -> dict[date, bool]:
    rows = db.session.execute(select(WorkdayAdjustment.day, WorkdayAdjustment.is_working_day).where(
        WorkdayAdjustment.day >= first, WorkdayAdjustment.day <= last))
    return {day: working for day, working in rows}


def _adjusted_years(years: set[int]) -> set[int]:
    if not years:
        return set()
    lo, hi = min(years), max(years)
    days = db.session.scalars(select(WorkdayAdjustment.day).where(
        WorkdayAdjustment.day >= date(lo, 1, 1), WorkdayAdjustment.day <= date(hi, 12, 31)))
    return {d.year for d in days}


def _base(day: date) -> bool:
    """The package's answer, or weekends alone where the package has no data."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


class Calendar:
    """The working days of a window of dates with the table read once: for pages that count many deadlines
    (``Calendar(first, last).between(today, deadline)`` for each row). Dates outside the window are counted
    without the administrator's entries, so make the window cover every date passed."""

    def __init__(self, first: date, last: date):
        _check_span(first, last)
        self.adjusted = _adjustments(first, last)

    def working(self, day: date) -> bool:
        found = self.adjusted.get(day)
        return _base(day) if found is None else found

    def between(self, a: date, b: date) -> int:
        if a == b:
            return 0
        lo, hi = (a, b) if a < b else (b, a)
        count = sum(1 for i in range(1, (hi - lo).days + 1) if self.working(lo + timedelta(days=i)))
        return count if a < b else -count


_Calendar = Calendar


def _check_span(a: date, b: date) -> None:
    if abs((b - a).days) > MAX_SPAN_DAYS:
        raise ServiceError("日期范围过大，无法计算工作日。", status=400)


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day (an administrator's entry, else the package, else Monday to Friday)."""
    return _Calendar(day, day).working(day)


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (start itself not counted); n = 0 gives `start`."""
    if n < 0 or n > 366:
        raise ServiceError("工作日天数应在 0–366 之间。", status=400)
    calendar = _Calendar(start, start + timedelta(days=n * 3 + 40))
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if calendar.working(day):
            counted += 1
    return day


def working_days_between(a: date, b: date) -> int:
    """Working days after `a` up to and including `b` (negative when `b` is before `a`, 0 when equal).

    "Working days left" until a deadline is ``working_days_between(today, deadline)``: 0 on the deadline
    itself, negative once it has passed."""
    if a == b:
        return 0
    return Calendar(min(a, b), max(a, b)).between(a, b)


def uncovered_years(a: date, b: date | None = None) -> list[int]:
    """Years between `a` and `b` that neither the package nor any administrator's entry covers."""
    b = b or a
    lo, hi = min(a, b), max(a, b)
    first, last = package_years()
    beyond = {y for y in range(lo.year, hi.year + 1) if not first <= y <= last}
    return sorted(beyond - _adjusted_years(beyond))


def warning(a: date, b: date | None = None) -> str:
    """A warning to show when the range reaches a year whose holidays are unknown, else ''."""
    years = uncovered_years(a, b)
    if not years:
        return ""
    named = "、".join(str(y) for y in years)
    return (f"{named} 年节假日安排尚未录入：这些日期暂按周一至周五计算工作日，可能不准确。"
            "请系统管理员在“工作日历”中录入当年的节假日与调休安排。")


# --- the administrator's entries --------------------------------------------------------------------------

FIELDS = ("day", "is_working_day", "note")


def list_adjustments(year: int) -> list[WorkdayAdjustment]:
    return list(db.session.scalars(select(WorkdayAdjustment).where(
        WorkdayAdjustment.day >= date(year, 1, 1), WorkdayAdjustment.day <= date(year, 12, 31))
        .order_by(WorkdayAdjustment.day)))


def year_summary(year: int) -> dict:
    """Where the year's working days come from, and the warning when nothing covers it."""
    first, last = package_years()
    entries = list_adjustments(year)
    return {"year": year, "package": first <= year <= last, "package_last": last, "entries": entries,
            "warning": warning(date(year, 1, 1)) if not entries else ""}


def add_adjustment(*, day: date | None, is_working_day: bool | None, note: str | None) -> WorkdayAdjustment:
    """Enter a date as a working day or a day off; one entry per date."""
    if day is None:
        raise ServiceError("请填写日期（如 2027-10-01）。", field="day")
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ServiceError(f"日期的年份应在 {MIN_YEAR}–{MAX_YEAR} 之间。", field="day")
    if is_working_day is None:
        raise ServiceError("请选择该日是上班还是休息。", field="is_working_day")
    note = clean(note)
    if not note:
        raise ServiceError("请填写说明（如“国庆节”“国庆节调休上班”）。", field="note")
    if len(note) > 100:
        raise ServiceError("说明不能超过 100 个字。", field="note")
    if db.session.scalar(select(WorkdayAdjustment.id).where(WorkdayAdjustment.day == day)):
        raise ServiceError(f"{day.isoformat()} 已有录入，请先删除原有记录。", field="day", status=409)
    if is_working_day and day.weekday() < 5 and _base(day):
        raise ServiceError(f"{day.isoformat()} 本来就是工作日，无需录入“上班”。", field="is_working_day")
    if not is_working_day and day.weekday() >= 5 and not _base(day):
        raise ServiceError(f"{day.isoformat()} 本来就是周末休息日，无需录入“休息”。", field="is_working_day")
    entry = WorkdayAdjustment(day=day, is_working_day=is_working_day, note=note)
    db.session.add(entry)
    db.session.flush()
    audit.record("create", "workday_adjustment", entry.id, label=day.isoformat(),
                 after=audit.snapshot(entry, FIELDS))
    return entry


def remove_adjustment(entry: WorkdayAdjustment) -> None:
    audit.record("delete", "workday_adjustment", entry.id, label=entry.day.isoformat(),
                 before=audit.snapshot(entry, FIELDS))
    db.session.delete(entry)
    db.session.flush()


def _register_labels() -> None:
    from . import labels

    labels.register_fields("workday_adjustment", {"day": "日期", "is_working_day": "是否上班", "note": "说明"})


_register_labels()
