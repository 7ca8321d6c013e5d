"""Query parameters and JSON bodies of API endpoints, refused with the table's codes (BAD_DATE, BAD_PARAM,
BAD_REQUEST, TOO_LARGE), never a 500.

    day = query_date("date", required=True)      # ?date=2026-12-01
    page = query_int("page", default=1, maximum=10_000)
    staff = query_text("staff", required=True, max_length=32)
    body = json_object(64 * 1024, allowed={"staff", "code"})
    items = batch_items(8 * 1024 * 1024, max_items=5000)   # {"items": [...]}
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


def _size_text(max_bytes: int) -> str:
    return f"{max_bytes // 1024 // 1024} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes // 1024} KB"


def json_object(max_bytes: int, *, allowed: set[str] | None = None) -> dict:
    """The request's JSON object: too large (413), not JSON, not an object or unknown fields (400)."""
    if (request.content_length or 0) > max_bytes:
        raise ApiError("TOO_LARGE", f"请求体超过 {_size_text(max_bytes)}，请分批提交。")
    if not request.is_json:
        raise ApiError("BAD_REQUEST", "请求体应为 JSON（Content-Type: application/json）。")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError("BAD_REQUEST", "请求体不是有效的 JSON。")
    if not isinstance(body, dict):
        raise ApiError("BAD_REQUEST", "请求体应为 JSON 对象。")
    unknown = sorted(set(body) - allowed) if allowed is not None else []
    if unknown:
        raise ApiError("BAD_REQUEST", f"不认识的字段：{'、'.join(str(k)[:30] for k in unknown[:5])}"
                                      f"（只接受 {'、'.join(sorted(allowed))}）。")
    return body


def batch_items(max_bytes: int, *, max_items: int) -> list:
    """The list of a batch body {"items": [...]}, at most max_items long."""
    items = json_object(max_bytes, allowed={"items"}).get("items")
    if not isinstance(items, list):
        raise ApiError("BAD_REQUEST", "请求体应为 JSON 对象 {\"items\": [...]}。")
    if len(items) > max_items:
        raise ApiError("TOO_LARGE", f"一批最多 {max_items} 项，请分批提交。")
    return items
