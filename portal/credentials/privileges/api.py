"""Privileges for HIS: the check at order entry (GET /privileges/check), the paged copy of qualifications and
privileges (GET /privileges) and the report of an emergency performed beyond privilege (POST
/privileges/overrides)."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime

from flask import g, jsonify, request

from portal.api.errors import ApiError
from portal.api.params import json_object
from portal.api.registry import Param, arr, boolean, endpoint, integer, obj, scope, text
from portal.core.service import ServiceError
from portal.core.timeutil import local_today

from .. import VIEW_PRIVILEGES
from ..models.privileges import Privilege
from . import check as checker
from . import queries, services

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
PAGE_SIZE = 500
MAX_BODY_BYTES = 64 * 1024
CHECK = scope("privileges.check", "授权校验", "HIS 开单、排程时校验医师对某手术/操作的开单权、执行权")
READ = scope("privileges.read", "授权同步", "HIS 按更新时间分页拉取资质与授权，保存本地副本")
OVERRIDE = scope("privileges.override", "紧急超权限报告", "HIS 报告紧急情况下超出授权开展的手术")

CHECK_ANSWER = obj(allowed=boolean(), reason=text("中文说明"),
                   privilege_id=integer("依据的授权记录（或相关的暂停/到期记录）"),
                   missing=obj(type=text("privilege / qualification / department / technology / staff"),
                               kind=text(), code=text(), name=text(), grade=integer(), category=text(),
                               technology=text(), right=text()),
                   staff=text(), code=text("院内编码"), technology=text(), grade=integer(), right=text(),
                   date=text(format="date"))
ITEM = obj(type=text("qualification / privilege"), id=integer(), staff=text("工号"), state=text(),
           counts=boolean("在 as_of 当天是否有效"), updated_at=text(), valid_from=text(), valid_to=text(),
           qualification_code=text(), qualification_name=text(), level=text(), kind=text("grade / technology"),
           grade=integer(), categories=arr(text()), code=text(), national_code=text(), can_order=boolean(),
           can_perform=boolean(), supersedes_id=integer(),
           ended_on=text("已调整的授权：新记录生效的第一天（此前仍有效）", format="date"))
PULL_ANSWER = obj(items=arr(ITEM), next_page_token=text("为空表示已取完"), as_of=text(format="date"))
OVERRIDE_BODY = obj(("staff", "code", "performed_at"), staff=text("工号"), code=text("手术/操作编码"),
                    performed_at=text("开展时间 ISO 8601"), patient=text("住院号"), reason=text("紧急情况说明"),
                    id=text("HIS 的记录号（重复提交按它识别）"))
OVERRIDE_ANSWER = obj(id=integer(), created=boolean(), status=text(), due_at=text())


def _day(raw: str | None) -> date:
    if raw is None or raw == "":
        return local_today()
    if not DATE.fullmatch(raw):
        raise ApiError("BAD_DATE", f"日期“{raw[:20]}”格式不正确，应为 2026-11-23（年-月-日）。")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError("BAD_DATE", f"日期“{raw}”不存在。") from None


def _param(name: str, max_length: int = 40) -> str:
    value = (request.args.get(name) or "").strip()
    if not value:
        raise ApiError("BAD_PARAM", f"缺少参数 {name}。", details={"param": name})
    if len(value) > max_length:
        raise ApiError("BAD_PARAM", f"参数 {name} 过长。", details={"param": name})
    return value


@endpoint("GET", "/privileges/check", scope=CHECK, permission=VIEW_PRIVILEGES, summary="校验开单权 / 执行权",
          params=[Param("staff", "query", "工号", required=True),
                  Param("code", "query", "手术/操作编码：院内编码或国家临床版3.0编码", required=True),
                  Param("right", "query", "perform 执行权 / order 开单权", required=True, enum=("perform", "order")),
                  Param("date", "query", "日期 YYYY-MM-DD（默认今天）", format="date")],
          response=CHECK_ANSWER, errors=("BAD_PARAM", "BAD_DATE", "NOT_FOUND_STAFF", "NOT_FOUND_CODE"))
def check_privilege():
    """May this doctor order / perform this operation on this day? A denial raises a risk alert (once per
    staff member, technology and day)."""
    staff, code = _param("staff"), _param("code")
    right = request.args.get("right", "")
    if right not in ("perform", "order"):
        raise ApiError("BAD_PARAM", "参数 right 应为 perform（执行权）或 order（开单权）。", details={"param": "right"})
    day = _day(request.args.get("date"))
    try:
        decision = checker.check(staff, code, right, day)
    except checker.UnknownStaff:
        raise ApiError("NOT_FOUND_STAFF", f"没有工号为“{staff}”的人员。") from None
    except checker.UnknownCode:
        raise ApiError("NOT_FOUND_CODE", f"技术目录中没有编码“{code}”（院内编码或国家临床版编码）。") from None
    if not decision.allowed:
        services.record_denial(decision, code, right, day)
    return jsonify({**decision.as_dict(), "staff": staff.upper(), "right": right, "date": day.isoformat()})


def _token(raw: str | None):
    if not raw:
        return None
    try:
        at, rank, ident = json.loads(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
        return datetime.fromisoformat(at), int(rank), int(ident)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ApiError("BAD_PARAM", "page_token 无效，请使用上一页返回的 next_page_token。",
                       details={"param": "page_token"}) from None


def _encode(at: datetime, rank: int, ident: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), rank, ident]).encode()).decode().rstrip("=")


def _since(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiError("BAD_DATE", "updated_since 应为 ISO 8601 时间，如 2026-11-23T08:00:00+08:00。") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _item(rank: int, row, today: date) -> dict:
    if rank == 0:
        q, code, name, number = row
        return {"type": "qualification", "id": q.id, "staff": number, "state": q.status, "counts": q.counts_on(today),
                "updated_at": q.updated_at.isoformat(), "qualification_code": code, "qualification_name": name,
                "level": q.level, "valid_from": q.valid_from.isoformat() if q.valid_from else None,
                "valid_to": q.valid_to.isoformat() if q.valid_to else None}
    p, number = row
    p: Privilege
    return {"type": "privilege", "id": p.id, "staff": number, "state": p.status, "counts": p.counts_on(today),
            "updated_at": p.updated_at.isoformat(), "kind": p.kind, "grade": p.grade,
            "categories": sorted(p.category_set), "code": p.technology.code if p.technology else None,
            "national_code": p.technology.national_code if p.technology else None, "can_order": p.can_order,
            "can_perform": p.can_perform, "valid_from": p.valid_from.isoformat(), "valid_to": p.valid_to.isoformat(),
            "supersedes_id": p.supersedes_id, "ended_on": p.ended_on.isoformat() if p.ended_on else None}


@endpoint("GET", "/privileges", scope=READ, permission=VIEW_PRIVILEGES, summary="分页拉取资质与授权（增量同步）",
          params=[Param("updated_since", "query", "只要此时间之后更新的记录（ISO 8601）"),
                  Param("page_token", "query", "上一页返回的 next_page_token"),
                  Param("limit", "query", f"每页条数，1–{PAGE_SIZE}", type="integer")],
          response=PULL_ANSWER, errors=("BAD_PARAM", "BAD_DATE"))
def pull_privileges():
    """Qualifications and granted privileges (every state, so a copy can drop what stopped counting), ordered
    by update time; page with next_page_token until it is empty."""
    since, cursor = _since(request.args.get("updated_since")), _token(request.args.get("page_token"))
    raw_limit = request.args.get("limit") or str(PAGE_SIZE)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= PAGE_SIZE:
        raise ApiError("BAD_PARAM", f"limit 应为 1–{PAGE_SIZE} 的整数。", details={"param": "limit"})
    limit, today = int(raw_limit), local_today()
    rows = queries.pull_page(since, cursor, limit)
    items = [_item(rank, row, today) for rank, row in rows]
    token = None
    if len(rows) == limit:
        rank, row = rows[-1]
        token = _encode(row[0].updated_at, rank, row[0].id)
    return jsonify({"items": items, "next_page_token": token, "as_of": today.isoformat()})


def _body() -> dict:
    body = json_object(MAX_BODY_BYTES, allowed={"staff", "code", "performed_at", "patient", "reason", "id"})
    for key, value in body.items():
        if not isinstance(value, str) or len(value) > 1000:
            raise ApiError("BAD_REQUEST", f"字段 {key} 应为 1000 字以内的文字。")
    return body


@endpoint("POST", "/privileges/overrides", scope=OVERRIDE, permission=VIEW_PRIVILEGES,
          summary="报告紧急情况下超出授权开展的手术", request=OVERRIDE_BODY, response=OVERRIDE_ANSWER,
          errors=("BAD_REQUEST", "TOO_LARGE", "BAD_DATE", "NOT_FOUND_STAFF", "NOT_FOUND_CODE", "VALIDATION"))
def report_override():
    """Record an emergency performed beyond privilege; the department head must confirm it within 24 hours.
    Idempotent by HIS's id."""
    body = _body()
    for key in ("staff", "code", "performed_at"):
        if not body.get(key, "").strip():
            raise ApiError("VALIDATION", f"缺少 {key}。", details=[{"field": key, "message": f"缺少 {key}"}])
    try:
        performed = datetime.fromisoformat(body["performed_at"].replace("Z", "+00:00"))
    except ValueError:
        raise ApiError("BAD_DATE", "performed_at 应为 ISO 8601 时间，如 2026-11-23T08:00:00+08:00。") from None
    if performed.tzinfo is None:
        raise ApiError("BAD_DATE", "performed_at 须带时区，如 +08:00。")
    try:
        item, created = services.record_override(staff_no=body["staff"], code=body["code"], performed_at=performed,
                                                 patient=body.get("patient", ""), reason=body.get("reason", ""),
                                                 external_id=body.get("id", ""), client_id=g.get("api_client_id"))
    except LookupError as missing:
        if str(missing) == "'staff'" or missing.args == ("staff",):
            raise ApiError("NOT_FOUND_STAFF", f"没有工号为“{body['staff'][:40]}”的人员。") from None
        raise ApiError("NOT_FOUND_CODE", f"技术目录中没有编码“{body['code'][:40]}”。") from None
    except ServiceError as error:
        raise ApiError("VALIDATION", error.message) from None
    response = jsonify({"id": item.id, "created": created, "status": item.status, "due_at": item.due_at.isoformat()})
    response.status_code = 201 if created else 200
    return response
