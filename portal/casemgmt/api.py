"""The next-day plan for HIS: POST /api/v1/plans/<date> submits (idempotent by item id), GET reads it back."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import abort, jsonify, request

from portal.api import bp
from portal.api.auth import require_token
from portal.api.errors import json_error
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


def _day(raw: str) -> date:
    if not DATE.fullmatch(raw or ""):
        abort(400, f"日期“{(raw or '')[:20]}”格式不正确，应为 2026-11-23（年-月-日）。")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, f"日期“{raw}”不存在。")


def _body() -> dict:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        abort(413, f"请求体超过 {MAX_BODY_BYTES // 1024 // 1024} MB，请分批提交。")
    if not request.is_json:
        abort(400, "请求体应为 JSON（Content-Type: application/json）。")
    body = request.get_json(silent=True)
    if body is None:
        abort(400, "请求体不是有效的 JSON。")
    if not isinstance(body, dict):
        abort(400, "请求体应为 JSON 对象，如 {\"items\": [...]}。")
    unknown = sorted(set(body) - {"items", "replace"})
    if unknown:
        abort(400, f"不认识的字段：{'、'.join(str(k)[:30] for k in unknown[:5])}（只接受 items、replace）。")
    return body


def _item(index: int, raw: Any) -> dict:
    """One item as HIS sends it -> the service's shape; wrong types are a 400 naming the item and field."""
    where = f"第 {index} 项"
    if not isinstance(raw, dict):
        abort(400, f"{where}应为 JSON 对象。")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        abort(400, f"{where}有不认识的字段：{'、'.join(str(k)[:30] for k in unknown[:5])}。")
    ident = raw.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int)) or str(ident).strip() == "":
        abort(400, f"{where}缺少项目编号 id（文字或整数）。")
    for key in TEXT:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            abort(400, f"{where}的“{key}”应为文字。")
    for key in ("ward", "bed"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            abort(400, f"{where}的“{key}”应为文字。")
    needs = raw.get("special_needs")
    if needs is not None and not (isinstance(needs, list) and all(isinstance(n, str) for n in needs)):
        abort(400, f"{where}的“special_needs”应为文字数组，如 [\"wheelchair\", \"fasting\"]。")
    if raw.get("service") in (None, ""):
        abort(400, f"{where}缺少服务项目 service。")
    item = {FIELDS[key]: value for key, value in raw.items() if value is not None}
    item["external_id"] = str(ident).strip()
    if isinstance(item.get("ward"), int):
        item["ward"] = str(item["ward"])  # a numeric department code, not a row id
    return item


def _problems(error: plans.PlanError) -> list[dict]:
    return [{"index": p.index, "id": p.external_id or None, "field": BACK.get(p.field or "", p.field),
             "message": p.message} for p in error.problems]


@bp.route("/plans/<plan_date>", methods=["POST"])
@require_token(PLAN)
def submit_plan(plan_date: str):
    """Submit or revise the plan of a date; the same body twice changes nothing the second time."""
    day = _day(plan_date)
    body = _body()
    items = body.get("items")
    if not isinstance(items, list):
        abort(400, "items 应为数组。")
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        abort(400, "replace 应为 true 或 false。")
    clean_items = [_item(index, raw) for index, raw in enumerate(items, start=1)]
    digest = plans.submission_digest({"items": items, "replace": replace})
    try:
        # The same body as the last one applied, nothing changed since: answered from one query.
        result = plans.unchanged_submission(day, digest, len(clean_items)) or plans.submit_plan(
            day, clean_items, source="api", replace=replace, digest=digest)
    except plans.PlanError as error:
        return json_error(422, error.message, problems=_problems(error))
    except ServiceError as error:
        return json_error(error.status, error.message)
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


@bp.route("/plans/<plan_date>", methods=["GET"])
@require_token(PLAN)
def get_plan(plan_date: str):
    """The plan of a date as stored: its state and every item (patients masked), with its task's state."""
    day = _day(plan_date)
    plan = plans.plan_for(day)
    if plan is None:
        return json_error(404, f"{day:%Y-%m-%d} 没有服务计划。")
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
