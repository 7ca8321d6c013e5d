"""Calendar months as the hospital writes them ("2026-11"): parsing, bounds and neighbours.

A month is the date of its first day. Reports, KPIs, the ledger and the assessment all use these.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from .service import ServiceError
from .timeutil import local_today

MONTH_PATTERN = re.compile(r"^([0-9]{4})-([0-9]{1,2})$")
MIN_YEAR, MAX_YEAR = 2000, 2199


def parse_month(text: str | None, field: str = "month") -> date:
    """'2026-11' as the first day of that month, or a ServiceError (status 400) in Chinese."""
    raw = (text or "").strip()
    found = MONTH_PATTERN.fullmatch(raw)
    if not found:
        raise ServiceError(f"月份“{raw[:20]}”格式不正确，应为“年-月”，如 2026-11。", field=field, status=400)
    year, month = int(found[1]), int(found[2])
    if not 1 <= month <= 12:
        raise ServiceError(f"月份“{raw}”不存在：月应在 01–12 之间。", field=field, status=400)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ServiceError(f"年份应在 {MIN_YEAR}–{MAX_YEAR} 之间。", field=field, status=400)
    return date(year, month, 1)


def current_month(today: date | None = None) -> date:
    return (today or local_today()).replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def month_end(month: date) -> date:
    return next_month(month.replace(day=1)) - timedelta(days=1)


def month_bounds(month: date) -> tuple[date, date]:
    """The first and the last day of the month `month` falls in."""
    return month.replace(day=1), month_end(month)


def month_text(month: date) -> str:
    return f"{month:%Y-%m}"


def month_label(month: date) -> str:
    return f"{month.year}年{month.month}月"


def check_not_future(month: date, today: date | None = None, what: str = "查看") -> date:
    if month > current_month(today):
        raise ServiceError(f"不能{what}未来的月份（本月为 {month_text(current_month(today))}）。", field="month",
                           status=400)
    return month


# Month bit sets: a row per key and five-year block whose bits say which months it covers (the ledger's patients
# served, the surgeons' technologies operated), so a distinct count over a long period reads few rows.
BLOCK_YEARS = 5


def block_of(day: date) -> int:
    return day.year - day.year % BLOCK_YEARS


def bit_of(day: date) -> int:
    return 1 << ((day.year - block_of(day)) * 12 + day.month - 1)


def months_between(model, start: date, end: date):
    """The condition "a bit set in a month from start to end" on `model` (columns block, months): one term per
    block."""
    from sqlalchemy import and_, or_

    terms = []
    for block in range(block_of(start), block_of(end) + 1, BLOCK_YEARS):
        mask = 0
        for year in range(max(block, start.year), min(block + BLOCK_YEARS - 1, end.year) + 1):
            for month in range(1, 13):
                if (start.year, start.month) <= (year, month) <= (end.year, end.month):
                    mask |= bit_of(date(year, month, 1))
        terms.append(and_(model.block == block, model.months.op("&")(mask) != 0))
    return or_(*terms)
