"""The 17:00 clock: when a plan for a day is late, and which plan dates may be submitted now.

The cutoff is PLAN_CUTOFF (local time, default 17:00) on the day before the plan date.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta

from flask import current_app

from portal.core.service import ServiceError
from portal.core.timeutil import LOCAL_TZ, utcnow

log = logging.getLogger(__name__)



DEFAULT_CUTOFF = "17:00"
MAX_DAYS_AHEAD = 30


def _cutoff_time() -> tuple[int, int]:
    raw = str(current_app.config.get("PLAN_CUTOFF") or DEFAULT_CUTOFF)
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw.strip())
    if match is None:
        log.warning("PLAN_CUTOFF %r is not HH:MM; using %s", raw, DEFAULT_CUTOFF)
        match = re.fullmatch(r"(\d+):(\d+)", DEFAULT_CUTOFF)
    return int(match.group(1)), int(match.group(2))


def cutoff_label() -> str:
    hour, minute = _cutoff_time()
    return f"{hour:02d}:{minute:02d}"


def cutoff_for(plan_date: date) -> datetime:
    """The instant (UTC) after which items for `plan_date` are late: the cutoff time on the day before, local."""
    hour, minute = _cutoff_time()
    day = plan_date - timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


def as_utc(now: datetime | None) -> datetime:
    now = now or utcnow()
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def is_late(plan_date: date, now: datetime | None = None) -> bool:
    return as_utc(now) > cutoff_for(plan_date)


def local_day(now: datetime | None = None) -> date:
    """Today in Asia/Shanghai at `now` (the service clock: tests inject `now`)."""
    return as_utc(now).astimezone(LOCAL_TZ).date()


def date_window(now: datetime | None = None) -> tuple[date, date]:
    """The first and last plan date that may be submitted now: tomorrow .. tomorrow + MAX_DAYS_AHEAD - 1."""
    today = local_day(now)
    return today + timedelta(days=1), today + timedelta(days=MAX_DAYS_AHEAD)


def check_plan_date(plan_date: date, now: datetime | None = None) -> None:
    first, last = date_window(now)
    if not isinstance(plan_date, date):
        raise ServiceError("请填写计划日期。", field="plan_date")
    if plan_date < first:
        raise ServiceError(f"计划日期 {plan_date:%Y-%m-%d} 已不能再下达或修改：次日服务计划只能下达 "
                           f"{first:%Y-%m-%d}（明天）及以后的计划。", field="plan_date")
    if plan_date > last:
        raise ServiceError(f"计划日期 {plan_date:%Y-%m-%d} 太远：最多提前 {MAX_DAYS_AHEAD} 天下达"
                           f"（最晚 {last:%Y-%m-%d}）。", field="plan_date")
