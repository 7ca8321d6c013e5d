"""A report's filters as plain values: parsed from query arguments, shifted for comparisons, written back to URLs.

Parsing takes a plain mapping (request.args, a job's arguments, a schedule's), so the page, the
export, the drill-down and the archive job read filters the same way. Bad values raise a
ServiceError with status 400 and a Chinese message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from portal.core.months import month_bounds, month_label, next_month, parse_month, previous_month
from portal.core.service import ServiceError
from portal.core.timeutil import local_today

COMPARES = {"yoy": "同比（上年同期）", "prev": "环比（上一期）"}
COMPARE_HEADERS = {"yoy": "上年同期", "prev": "上期"}
MIN_DATE, MAX_DATE = date(2000, 1, 1), date(2199, 12, 31)
# Five years of history is what the hospital compares over; every report must stay fast across it (the
# benchmark measures each one over this range), with a summary table (Report.rollup) where raw rows are too many.
MAX_RANGE_YEARS = 5


def max_years(report) -> int:
    """The longest date range a report accepts, in years."""
    return MAX_RANGE_YEARS
MAX_ARG = 64


def _bad(message: str, name: str) -> ServiceError:
    return ServiceError(message, field=name, status=400)


def _date(raw: str, name: str, label: str) -> date:
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise _bad(f"{label}“{raw[:20]}”格式不正确，应为 2026-11-23。", name) from None
    if not MIN_DATE <= value <= MAX_DATE:
        raise _bad(f"{label}应在 {MIN_DATE:%Y-%m-%d} 至 {MAX_DATE:%Y-%m-%d} 之间。", name)
    return value


def _shift_year(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Params:
    """The filters of one run: the period (a month, or a date range), a department, the report's own choices."""

    start: date
    end: date
    month: date | None = None  # set when the period is a calendar month
    department_id: int | None = None
    options: dict[str, str] = field(default_factory=dict)
    compare: str = ""  # "", "yoy" or "prev"

    @classmethod
    def default(cls, report, today: date | None = None) -> Params:
        month = (today or local_today()).replace(day=1)
        start, end = month_bounds(month)
        return cls(start, end, month, None, {f.name: "" for f in report.filters})

    @classmethod
    def parse(cls, report, args: dict[str, Any] | Any, today: date | None = None) -> Params:
        """Filters from query arguments; an empty period is the current month."""

        def arg(name: str) -> str:
            value = args.get(name, "")
            value = "" if value is None else str(value).strip()
            if len(value) > MAX_ARG:
                raise _bad(f"查询条件“{name}”过长。", name)
            return value

        raw_month, raw_from, raw_to = arg("month"), arg("date_from"), arg("date_to")
        month = None
        if raw_month:
            parse_month(raw_month)  # a malformed month is an error even where a date range wins
        if raw_from or raw_to:  # a date range, when given, wins over the month
            if not (raw_from and raw_to):
                raise _bad("按日期范围查询时，请同时填写开始日期和结束日期。",
                           "date_from" if not raw_from else "date_to")
            start, end = _date(raw_from, "date_from", "开始日期"), _date(raw_to, "date_to", "结束日期")
            if start > end:
                raise _bad("开始日期不能晚于结束日期。", "date_from")
            years = max_years(report)
            if (end - start).days > years * 366:
                raise _bad(f"日期范围最长{'一二三四五六七八九十'[years - 1] if years <= 10 else years}年，请缩小范围。",
                           "date_to")
            if start.day == 1 and end == month_bounds(start)[1]:
                month = start
        elif raw_month:
            month = parse_month(raw_month)
            start, end = month_bounds(month)
        else:
            month = (today or local_today()).replace(day=1)
            start, end = month_bounds(month)
        department_id = None
        raw_department = arg("department_id")
        if raw_department:
            if not report.department_filter:
                raise _bad("该报表不按科室筛选。", "department_id")
            if not raw_department.isdigit() or not 0 < int(raw_department) < 2**31:
                raise _bad("科室参数无效。", "department_id")
            department_id = int(raw_department)
        options = {}
        for choice in report.filters:
            value = arg(choice.name)
            if value and value not in choice.choices:
                raise _bad(f"“{choice.label}”的取值“{value[:20]}”无效。", choice.name)
            options[choice.name] = value
        compare = arg("compare")
        if compare and compare not in COMPARES:
            raise _bad(f"对比方式“{compare[:20]}”无效，应为同比或环比。", "compare")
        return cls(start, end, month, department_id, options, compare)

    def shifted(self, kind: str) -> Params:
        """The same filters for the period compared with: a year earlier, or the period just before."""
        if kind == "yoy":
            if self.month:
                month = self.month.replace(year=self.month.year - 1)
                start, end = month_bounds(month)
                return replace(self, start=start, end=end, month=month, compare="")
            return replace(self, start=_shift_year(self.start, -1), end=_shift_year(self.end, -1), month=None,
                           compare="")
        if kind == "prev":
            if self.month:
                month = previous_month(self.month)
                start, end = month_bounds(month)
                return replace(self, start=start, end=end, month=month, compare="")
            length = self.end - self.start
            end = self.start - timedelta(days=1)
            return replace(self, start=end - length, end=end, month=None, compare="")
        raise ValueError(kind)

    @property
    def period_label(self) -> str:
        if self.month:
            return month_label(self.month)
        return f"{self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}"

    @property
    def period_key(self) -> str:
        """How the archive names the period: 2026-10, or 2026-10-01_2026-10-15."""
        return f"{self.month:%Y-%m}" if self.month else f"{self.start:%Y-%m-%d}_{self.end:%Y-%m-%d}"

    def args(self, **changes: Any) -> dict[str, str]:
        """The filters as query arguments (the URL state); empty ones are left out."""
        out: dict[str, str] = {}
        if self.month:
            out["month"] = f"{self.month:%Y-%m}"
        else:
            out["date_from"], out["date_to"] = f"{self.start:%Y-%m-%d}", f"{self.end:%Y-%m-%d}"
        if self.department_id:
            out["department_id"] = str(self.department_id)
        out.update({k: v for k, v in self.options.items() if v})
        if self.compare:
            out["compare"] = self.compare
        out.update({k: str(v) for k, v in changes.items() if v not in (None, "")})
        for key, value in changes.items():
            if value in (None, ""):
                out.pop(key, None)
        return out

    def neighbours(self) -> tuple[dict[str, str], dict[str, str]]:
        """The query arguments of the previous and next month (month periods only)."""
        if not self.month:
            return {}, {}
        return (self.args(month=f"{previous_month(self.month):%Y-%m}"),
                self.args(month=f"{next_month(self.month):%Y-%m}"))
