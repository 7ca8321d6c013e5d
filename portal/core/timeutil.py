"""Time is stored in UTC and shown in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def _now() -> datetime:
    """The one clock: tests that must not see midnight pass mid-run pin it here."""
    return datetime.now(UTC)


def utcnow() -> datetime:
    return _now()


def to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ)


def local_today() -> date:
    return _now().astimezone(LOCAL_TZ).date()


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants at which a local calendar day starts and the next one starts."""
    start = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
    end = datetime.fromordinal(day.toordinal() + 1).replace(tzinfo=LOCAL_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def format_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(value)
    return local.strftime(fmt) if local else ""


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value)
    return value.strftime("%Y-%m-%d")
