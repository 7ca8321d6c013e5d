"""The next-day plan as an Excel import (type ``cm_plan``): each date's rows go through one services.submit_plan.

The whole file is one submission of the plan (one revision per date, one clock: see plans' batch
mode). "Replace the period" cancels the items of the period (nothing is deleted) before the rows
are written back; a row identical to its cancelled item restores it as it was.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.io.columns import CellError, ImportColumn, register_lookup
from portal.io.imports import ImportType, register
from portal.io.reader import RowResult

from ..models import TASK_TYPES, TIME_SLOTS, Plan, PlanItem
from . import parsing, queries, services, validation


def special_needs_cell(value: Any) -> list[str]:
    """Text such as "轮椅、禁食" -> codes; a word that is not a special need is a cell error."""
    codes, unknown = parsing.parse_special_needs(str(value))
    if unknown:
        shown = "、".join(w[:20] for w in unknown[:5])
        raise CellError(f"未知的特殊需求“{shown}”，可选：{parsing.special_needs_hint()}")
    return codes


register_lookup("cm_special_needs", special_needs_cell)

COLUMNS = [
    ImportColumn("plan_date", "计划日期", kind="date", required=True, aliases=("服务日期",),
                 help="服务当天的日期（明天及以后，最多提前 30 天）"),
    ImportColumn("external_id", "项目编号", max_length=64, aliases=("计划项目编号", "HIS项目编号"),
                 help="HIS 的项目编号，重复导入时据此更正；留空则按日期、患者、服务项目和时段生成"),
    ImportColumn("patient", "患者", required=True, max_length=64, aliases=("住院号或证件号码", "住院号", "证件号码"),
                 help="住院号或证件号码"),
    ImportColumn("patient_name", "姓名", max_length=50, aliases=("患者姓名",)),
    ImportColumn("task_type", "服务项目", kind="enum", required=True, choices=TASK_TYPES),
    ImportColumn("service_item", "服务内容", max_length=100, help="具体的服务内容，显示在个案管理师的任务上"),
    ImportColumn("ward_id", "病区", kind="department", aliases=("病区代码",), help="病区名称或代码"),
    ImportColumn("bed", "床号", max_length=16),
    ImportColumn("time_slot", "时段", kind="enum", choices=TIME_SLOTS, help="留空视为“全天”"),
    ImportColumn("special_needs", "特殊需求", kind="cm_special_needs",
                 help=f"可填多项，以顿号分隔；可选：{parsing.special_needs_hint()}"),
    ImportColumn("special_note", "特殊需求说明", max_length=200),
    ImportColumn("note", "备注", max_length=500),
]
HEADERS = {c.name: c.header for c in COLUMNS} | {"ward": "病区"}
ITEM_FIELDS = ("external_id", "patient", "patient_name", "task_type", "service_item", "ward_id", "bed", "time_slot",
               "special_needs", "special_note", "note")


def _item(values: dict[str, Any]) -> dict[str, Any]:
    item = {name: values.get(name) for name in ITEM_FIELDS}
    item["time_slot"] = item["time_slot"] or "any"
    return item


def _validate(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Gives rows without an item id their stable one (and a blank slot is "全天"); the plan's rules are
    checked for the whole file at once (`_check_rows`)."""
    values["time_slot"] = values.get("time_slot") or "any"
    if not values.get("external_id"):
        values["external_id"] = parsing.stable_external_id(values["plan_date"], values["patient"], values["task_type"],
                                                         values["time_slot"])
    return []


ITEM_NUMBER = re.compile(r"第 (\d+) 项")


def _check_rows(rows: list[RowResult]) -> None:
    """The plan's own rules, shown in the preview: each date's rows checked together, as submit_plan will.

    One check per date finds what single rows cannot: the same patient, service and slot under two item
    ids (also when one row names the patient by 住院号 and the other by ID number).
    """
    by_day: dict[date, list[RowResult]] = {}
    for row in rows:
        by_day.setdefault(row.values["plan_date"], []).append(row)
    for day, day_rows in by_day.items():
        numbers = {index: row.row_number for index, row in enumerate(day_rows, start=1)}

        def as_rows(message: str, numbers=numbers) -> str:
            return ITEM_NUMBER.sub(lambda m: f"第 {numbers.get(int(m.group(1)), m.group(1))} 行", message)

        for problem in validation.check_items(day, [_item(row.values) for row in day_rows]):
            targets = [day_rows[problem.index - 1]] if problem.index else day_rows
            for row in targets:
                row.errors.append((HEADERS.get(problem.field or "", "项目编号"), None, as_rows(problem.message)))


def _find(keys: list[tuple]) -> dict[tuple, PlanItem]:
    days = sorted({k[0] for k in keys if isinstance(k[0], date)})
    wanted = set(keys)
    found = {}
    for start in range(0, len(days), 100):
        stmt = (select(Plan.plan_date, PlanItem).join(Plan, Plan.id == PlanItem.plan_id)
                .where(Plan.plan_date.in_(days[start:start + 100])))
        for day, item in db.session.execute(stmt).all():
            if (day, item.external_id) in wanted:
                found[(day, item.external_id)] = item
    return found


def _write_many(new: list[dict[str, Any]], corrections: list[tuple[dict[str, Any], Any]]) -> list[tuple]:
    """The rows as one submission per date (the plan's checks, late flags and task lists as for any submission),
    the items audited by the import's one summary record; returns the keys of the corrected items."""
    by_day: dict[date, list[dict[str, Any]]] = {}
    for values in [*new, *(values for values, _ in corrections)]:
        by_day.setdefault(values["plan_date"], []).append(values)
    changed = []
    for day, rows in by_day.items():
        result = services.submit_plan(day, [_item(v) for v in rows], source="excel", batch=True, summary=True)
        corrected = {v["external_id"] for v, _ in corrections if v["plan_date"] == day}
        changed.extend((day, external_id) for external_id in result.updated_ids if external_id in corrected)
    return changed


def _cancel_period(start: date, end: date) -> int:
    return services.cancel_period(start, end, source="excel", batch=True)


PLAN_IMPORT = register(ImportType(
    code="cm_plan", label="次日服务计划", columns=COLUMNS, key=("plan_date", "external_id"), find_existing=_find,
    write_many=_write_many, delete_period=_cancel_period, period_column="plan_date", count_period=queries.count_period,
    validate_row=_validate, check_rows=_check_rows, write_checks=True,
    unique_keys=(("plan_date", "patient", "task_type", "time_slot"),),
    compact=("external_id", "patient"),
    max_rows=validation.MAX_ITEMS, job_rows=1000, permission="casemgmt.plan", personal_data=True,
    example=("2026-11-24", "HIS-1001", "ZY20260001", "张三", "陪同入院", "办理入院并送至病房", "胸外病区", "12",
             "上午", "轮椅、禁食", "需家属陪同", "")))
