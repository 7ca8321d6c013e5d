"""The indicator dashboard's figures: one run of the declared report per period (this one, the year before,
the one before), totals only, each numerator and denominator with the URL of its rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from portal.core.months import month_bounds
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.reports import engine
from portal.reports.params import Params

from .. import VIEW
from .definitions import COUNTS, INDICATORS, Indicator, rate
from .reports import INDICATOR_REPORT

PERIOD = re.compile(r"^(\d{4})(?:-(?:(\d{1,2})|Q([1-4])))?$")
KINDS = {"month": "月", "quarter": "季度", "year": "年"}


@dataclass(frozen=True)
class Period:
    kind: str  # month | quarter | year
    year: int
    number: int  # the month, the quarter, or 0 for a year

    @property
    def bounds(self) -> tuple[date, date]:
        if self.kind == "month":
            return month_bounds(date(self.year, self.number, 1))
        if self.kind == "quarter":
            first = date(self.year, self.number * 3 - 2, 1)
            return first, month_bounds(date(self.year, self.number * 3, 1))[1]
        return date(self.year, 1, 1), date(self.year, 12, 31)

    @property
    def key(self) -> str:
        return {"month": f"{self.year}-{self.number:02d}", "quarter": f"{self.year}-Q{self.number}",
                "year": f"{self.year}"}[self.kind]

    @property
    def label(self) -> str:
        return {"month": f"{self.year}年{self.number}月", "quarter": f"{self.year}年第{self.number}季度",
                "year": f"{self.year}年"}[self.kind]

    def before(self) -> Period:
        """The period just before (环比)."""
        if self.kind == "year":
            return Period("year", self.year - 1, 0)
        last = 12 if self.kind == "month" else 4
        return Period(self.kind, self.year - 1, last) if self.number == 1 else Period(self.kind, self.year,
                                                                                          self.number - 1)

    def year_before(self) -> Period:
        return Period(self.kind, self.year - 1, self.number)

    def params(self, department_id: int | None) -> Params:
        start, end = self.bounds
        return Params(start, end, start if self.kind == "month" else None, department_id, {}, "")


def parse_period(raw: str, today: date | None = None) -> Period:
    """2026-11 (a month), 2026-Q3 (a quarter) or 2026 (a year); empty: last month. Bad input is a 400."""
    raw = (raw or "").strip()
    if not raw:
        today = today or local_today()
        first = today.replace(day=1)
        return Period("month", first.year - (first.month == 1), 12 if first.month == 1 else first.month - 1)
    match = PERIOD.match(raw[:10])
    if not match or not 2000 <= int(match.group(1)) <= 2199:
        raise ServiceError(f"期间“{raw[:20]}”格式不正确，应为 2026-11（月）、2026-Q3（季度）或 2026（年）。",
                           field="period", status=400)
    year = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
        if not 1 <= month <= 12:
            raise ServiceError(f"月份“{raw[:20]}”不存在。", field="period", status=400)
        return Period("month", year, month)
    if match.group(3):
        return Period("quarter", year, int(match.group(3)))
    return Period("year", year, 0)


@dataclass
class Figure:
    indicator: Indicator
    numerator: int
    denominator: int
    value: object
    numerator_url: str | None
    denominator_url: str | None
    year_before: object
    before: object

    @property
    def numerator_label(self) -> str:
        return COUNTS[self.indicator.numerator]

    @property
    def denominator_label(self) -> str:
        return COUNTS[self.indicator.denominator]


def _totals(period: Period, department_id: int | None, user) -> tuple[dict, Params]:
    params = period.params(department_id)
    _, totals = engine.fetch(INDICATOR_REPORT, params, user)
    return totals, params


def figures(period: Period, department_id: int | None, user) -> list[Figure]:
    """Each indicator's numerator, denominator and rate, its rate a year before and a period before."""
    now, params = _totals(period, department_id, user)
    year_before, _ = _totals(period.year_before(), department_id, user)
    before, _ = _totals(period.before(), department_id, user)
    report = INDICATOR_REPORT
    out = []
    for indicator in INDICATORS:
        num, den = int(now.get(indicator.numerator) or 0), int(now.get(indicator.denominator) or 0)
        out.append(Figure(
            indicator, num, den, rate(num, den),
            engine.drill_url(report, report.column(indicator.numerator), None, params) if num else None,
            engine.drill_url(report, report.column(indicator.denominator), None, params) if den else None,
            rate(year_before.get(indicator.numerator), year_before.get(indicator.denominator)),
            rate(before.get(indicator.numerator), before.get(indicator.denominator))))
    return out


def kept_figures(period: Period, department_id: int | None, principal, user):
    """`figures(...)` and the figures' markup derived from them, kept while the quality generation is unchanged
    (they read the discharges or their monthly summary, and departments)."""
    from ..listing import kept

    return kept("indicator_figures", (period, department_id), principal, VIEW,
                lambda: figures(period, department_id, user))


def report_args(period: Period, department_id: int | None) -> dict:
    return period.params(department_id).args()


def trend_args(period: Period, department_id: int | None) -> dict:
    """The by-month report's filters: the twelve months up to a month, or the quarter or year itself."""
    start, end = period.bounds
    if period.kind == "month":
        back = start.year * 12 + start.month - 1 - 11
        start = date(back // 12, back % 12 + 1, 1)
    args = {"date_from": start.isoformat(), "date_to": end.isoformat()}
    if department_id:
        args["department_id"] = str(department_id)
    return args
