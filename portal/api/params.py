"""Query parameters of API endpoints, refused with the table's codes (BAD_DATE, BAD_PARAM), never a 500.

    day = query_date("date", required=True)      # ?date=2026-12-01
    page = query_int("page", default=1, maximum=10_000)
    staff = query_text("staff", required=True, max_length=32)
"""

from __future__ import annotations

import re
from datetime import date, datetime

from flask import request

from .errors import ApiError

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _raw(name: str, required: bool) -> str:
    value = request.args.get(name, "").strip()
    if not value and required:
        raise ApiError("BAD_PARAM", f"缺少查询参数 {name}。", details={"param": name})
    return value


def query_text(name: str, *, required: bool = False, max_length: int = 100) -> str:
    value = _raw(name, required)
    if len(value) > max_length or any(ord(ch) < 32 for ch in value):
        raise ApiError("BAD_PARAM", f"查询参数 {name} 过长或含控制字符（最长 {max_length} 个字符）。",
                       details={"param": name})
    return value


def query_choice(name: str, choices, *, required: bool = False, default: str = "") -> str:
    value = _raw(name, required) or default
    if value not in choices:
        raise ApiError("BAD_PARAM", f"查询参数 {name} 应为 {' / '.join(choices)} 之一。", details={"param": name})
    return value


def query_int(name: str, *, default: int | None = None, minimum: int = 1, maximum: int = 10**9) -> int | None:
    value = _raw(name, False)
    if not value:
        return default
    if not value.isdigit() or not minimum <= int(value) <= maximum:
        raise ApiError("BAD_PARAM", f"查询参数 {name} 应为 {minimum}–{maximum} 之间的整数。", details={"param": name})
    return int(value)


def query_date(name: str, *, required: bool = False) -> date | None:
    value = _raw(name, required)
    if not value:
        return None
    if not DATE.fullmatch(value):
        raise ApiError("BAD_DATE", f"日期参数 {name}=“{value[:20]}”格式不正确，应为 YYYY-MM-DD。",
                       details={"param": name})
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError("BAD_DATE", f"日期参数 {name}=“{value}”不存在。", details={"param": name}) from None


def query_datetime(name: str, *, required: bool = False) -> datetime | None:
    """An ISO 8601 time (2026-12-01T08:00:00+08:00; without an offset it is Beijing time)."""
    value = _raw(name, required)
    if not value:
        return None
    try:
        # A "+" in a query string arrives as a space: "2026-12-01T08:00:00 08:00".
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+", 1) if "T" in value else value)
    except ValueError:
        raise ApiError("BAD_DATE", f"时间参数 {name}=“{value[:30]}”格式不正确，应为 ISO 8601，如 "
                                   "2026-12-01T08:00:00+08:00。", details={"param": name}) from None
    if moment.tzinfo is None:
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return moment
