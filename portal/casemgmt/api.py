"""The next-day plan for HIS: POST /api/v1/plans/<date> submits (idempotent by item id), GET reads it back."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import jsonify

from portal.api.errors import ApiError
from portal.api.params import json_object
from portal.api.registry import Param, arr, boolean, endpoint, integer, obj, scope, text
from portal.core import masking
from portal.core.service import ServiceError
from portal.core.timeutil import to_local

from . import PLAN, plans
from .models import TASK_TYPES

MAX_BODY_BYTES = 2 * 1024 * 1024
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# API field -> plans.submit_plan field
FIELDS = {"id": "external_id", "patient": "patient", "name": "patient_name", "service": "task_type",
          "service_item": "service_item", "ward": "ward", "bed": "bed", "time_slot": "time_slot",
          "special_needs": "special_needs", "special_note": "special_note", "note": "note"}
BACK = {v: k for k, v in FIELDS.items()} | {"ward_id": "ward"}
TEXT = ("patient", "name", "service", "service_item", "time_slot", "special_note", "note")

PLANS = scope("plans", "次日服务计划", "HIS 提交、读取次日服务计划")
DATE_PARAM = Param("plan_date", "path", "计划日期 YYYY-MM-DD（北京时间）", format="date")
ITEM = obj(("id", "service"), id=text("HIS 的项目编号（同一日期内唯一；重复提交按它识别）"),
           patient=text("住院号/门诊号"), name=text("患者姓名"), service=text("服务项目代码或中文名"),
           service_item=text("服务内容"), ward=text("病区名称或代码"), bed=text("床号"),
           time_slot=text("时段：morning / afternoon / any"), special_needs=arr(text()),
           special_note=text(), note=text("备注（500 字以内）"))
SUBMIT_BODY = obj(("items",), items=arr(ITEM), replace=boolean("true：本次未列出的项目全部取消"))
SUBMIT_ANSWER = obj(plan_date=text(format="date"), revision=integer(), late=boolean("本次提交晚于 17:00"),
                    plan_is_late=boolean(), created=integer(), updated=integer(), unchanged=integer(),
                    cancelled=integer(), unknown_patients=arr(obj(id=text(), patient=text(), name=text("脱敏"))))
PLAN_ANSWER = obj(plan_date=text(format="date"), revision=integer(), is_late=boolean(), cutoff=text(),
                  first_submitted_at=text(), last_submitted_at=text(), built_at=text(),
                  items=arr(obj(id=text(), patient=text(), patient_known=boolean(), name=text("脱敏"),
                                service=text(), service_label=text(), ward=text(), ward_name=text(), bed=text(),
                                cancelled=boolean(), late=boolean(), task_status=text())))


def _bad(message: str):
    raise ApiError("BAD_REQUEST", message)


def _day(raw: str) -> date:
    if not DATE.fullmatch(raw or ""):
        raise ApiError("BAD_DATE", f"日期“{(raw or '')[:20]}”格式不正确，应为 2026-11-23（年-月-日）。")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError("BAD_DATE", f"日期“{raw}”不存在。") from None


def _body() -> dict:
    return json_object(MAX_BODY_BYTES, allowed={"items", "replace"})


def _item(index: int, raw: Any) -> dict:
    """One item as HIS sends it -> the service's shape; wrong types are a 400 naming the item and field."""
    where = f"第 {index} 项"
    if not isinstance(raw, dict):
        _bad(f"{where}应为 JSON 对象。")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        _bad(f"{where}有不认识的字段：{'、'.join(str(k)[:30] for k in unknown[:5])}。")
    ident = raw.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int)) or str(ident).strip() == "":
        _bad(f"{where}缺少项目编号 id（文字或整数）。")
    for key in TEXT:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            _bad(f"{where}的“{key}”应为文字。")
    for key in ("ward", "bed"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            _bad(f"{where}的“{key}”应为文字。")
    needs = raw.get("special_needs")
    if needs is not None and not (isinstance(needs, list) and all(isinstance(n, str) for n in needs)):
        _bad(f"{where}的“special_needs”应为文字数组，如 [\"wheelchair\", \"fasting\"]。")
    if raw.get("service") in (None, ""):
        _bad(f"{where}缺少服务项目 service。")
    item = {FIELDS[key]: value for key, value in raw.items() if value is not None}
    item["external_id"] = str(ident).strip()
    if isinstance(item.get("ward"), int):
        item["ward"] = str(item["ward"])  # a numeric department code, not a row id
    return item


def _problems(error: plans.PlanError) -> list[dict]:
    return [{"index": p.index, "id": p.external_id or None, "field": BACK.get(p.field or "", p.field),
             "message": p.message} for p in error.problems]


@endpoint("POST", "/plans/<plan_date>", scope=PLANS, permission=PLAN, summary="提交或修改某日的次日服务计划",
          params=[DATE_PARAM], request=SUBMIT_BODY, response=SUBMIT_ANSWER,
          errors=("BAD_DATE", "BAD_REQUEST", "TOO_LARGE", "VALIDATION", "CONFLICT"))
def submit_plan(plan_date: str):
    """Submit or revise the plan of a date; the same body twice changes nothing the second time."""
    day = _day(plan_date)
    body = _body()
    items = body.get("items")
    if not isinstance(items, list):
        _bad("items 应为数组。")
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        _bad("replace 应为 true 或 false。")
    clean_items = [_item(index, raw) for index, raw in enumerate(items, start=1)]
    digest = plans.submission_digest({"items": items, "replace": replace})
    try:
        # The same body as the last one applied, nothing changed since: answered from one query.
        result = plans.unchanged_submission(day, digest, len(clean_items)) or plans.submit_plan(
            day, clean_items, source="api", replace=replace, digest=digest)
    except plans.PlanError as error:
        raise ApiError("VALIDATION", error.message, details=_problems(error)) from None
    except ServiceError as error:
        raise ApiError("CONFLICT" if error.status == 409 else "VALIDATION", error.message) from None
    plan = result.plan
    return jsonify({
        "plan_date": day.isoformat(), "revision": plan.revision if plan else None, "late": result.late,
        "plan_is_late": bool(plan and plan.is_late), "created": result.created, "updated": result.updated,
        "unchanged": result.unchanged, "cancelled": result.cancelled,
        "unknown_patients": [{"id": i.external_id, "patient": i.patient_ref,
                              "name": masking.mask_name(i.patient_name)} for i in result.unknown],
    })


def _time(value) -> str | None:
    local = to_local(value)
    return local.isoformat() if local else None


@endpoint("GET", "/plans/<plan_date>", scope=PLANS, permission=PLAN, summary="读取某日的服务计划及各项任务状态",
          params=[DATE_PARAM], response=PLAN_ANSWER, errors=("BAD_DATE", "NOT_FOUND_PLAN"))
def get_plan(plan_date: str):
    """The plan of a date as stored: its state and every item (patients masked), with its task's state."""
    day = _day(plan_date)
    plan = plans.plan_for(day)
    if plan is None:
        raise ApiError("NOT_FOUND_PLAN", f"{day:%Y-%m-%d} 没有服务计划。")
    rows = plans.item_rows(plan.id)  # plain rows, ordered by id: no ORM object per item
    return jsonify({
        "plan_date": day.isoformat(), "revision": plan.revision, "is_late": plan.is_late,
        "cutoff": _time(plans.cutoff_for(day)), "first_submitted_at": _time(plan.first_submitted_at),
        "last_submitted_at": _time(plan.last_submitted_at), "built_at": _time(plan.built_at),
        "items": [{
            "id": i.external_id, "patient": i.patient_ref, "patient_known": i.patient_id is not None,
            "name": masking.mask_name(i.known_name if i.patient_id is not None else i.patient_name),
            "service": i.task_type, "service_label": TASK_TYPES.get(i.task_type, i.task_type),
            "service_item": i.service_item, "ward": i.ward_code, "ward_name": i.ward_name, "bed": i.bed,
            "time_slot": i.time_slot, "special_needs": list(i.special_needs or []), "special_note": i.special_note,
            "note": i.note, "cancelled": i.is_cancelled, "late": i.is_late, "source": i.source,
            "submitted_at": _time(i.submitted_at), "task_status": i.task_status,
        } for i in rows],
    })
