"""Discharges and surgeries pushed by HIS in batches (POST /api/v1/quality/discharges, /surgeries).

Each field is read by the import's own column (the same lookups, enumerations, date formats and rules as a
file), so a push and a workbook accept and refuse the same values. Idempotent by record id: a new record is
created, a changed one corrected (its changes in the batch's audit record), the same one left alone. All or
nothing per batch: every item is checked first, and any problem (index, field, code, message) means nothing
is written. One summary audit record per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.auth.sync import BatchRejected, Problem
from portal.core import audit
from portal.io.columns import CellError, ImportColumn
from portal.io.imports import ImportType, normalise_identity, prefetched

from .discharges import imports as discharge_imports
from .discharges import services as discharge_services
from .surgeries import imports as surgery_imports
from .surgeries import services as surgery_services

audit.ACTIONS.setdefault("sync", "接口同步")
MAX_ITEMS = 2000
ITEM_CODES = {
    "REQUIRED": "缺少必填字段",
    "BAD_TYPE": "字段类型不对（应为文字、数字、true/false）",
    "BAD_VALUE": "取值无效（日期、时间、枚举值、长度或相互矛盾）",
    "UNKNOWN_FIELD": "不认识的字段",
    "DUPLICATE": "同一批中记录号重复",
    "UNKNOWN_DEPARTMENT": "找不到该科室（名称或代码）",
    "UNKNOWN_STAFF": "找不到该工号的人员",
    "UNKNOWN_OPERATION": "技术目录中没有该手术编码（院内编码或国家临床版3.0）",
}
KIND_CODES = {"department": "UNKNOWN_DEPARTMENT", "quality_staff": "UNKNOWN_STAFF",
              "quality_operation": "UNKNOWN_OPERATION"}


@dataclass(frozen=True)
class Target:
    entity: str
    label: str
    import_type: ImportType
    check: Any  # values -> [(header or field, message)]
    save: Any  # rows, source -> Written
    clean: Any = None  # values -> stored row


def _field(column: ImportColumn, raw: Any, index: int, key: str | None, problems: list[Problem]) -> Any:
    if isinstance(raw, (dict, list)):
        problems.append(Problem(index, key, column.name, "BAD_TYPE", f"第 {index} 项的“{column.name}”类型不对。"))
        return None
    try:
        return column.parse(raw)
    except CellError as error:
        blank = raw is None or (isinstance(raw, str) and not raw.strip())
        code = "REQUIRED" if blank else KIND_CODES.get(column.kind, "BAD_VALUE")
        problems.append(Problem(index, key, column.name, code, f"第 {index} 项的“{column.name}”：{error}。"))
        return None


def _parse(target: Target, items: list) -> tuple[list[dict], list[Problem]]:
    import_type = target.import_type
    columns = {c.name: c for c in import_type.columns}
    headers = {c.header: c.name for c in import_type.columns}
    problems: list[Problem] = []
    rows, seen = [], {}
    with prefetched(import_type):
        for index, raw in enumerate(items, start=1):
            if not isinstance(raw, dict):
                problems.append(Problem(index, None, None, "BAD_TYPE", f"第 {index} 项应为 JSON 对象。"))
                continue
            unknown = sorted(str(k)[:30] for k in set(raw) - set(columns))
            key_raw = raw.get("record_id")
            key = normalise_identity(str(key_raw), compact=True)[:64] if isinstance(key_raw, (str, int)) else None
            if unknown:
                problems.append(Problem(index, key, unknown[0], "UNKNOWN_FIELD",
                                        f"第 {index} 项有不认识的字段：{'、'.join(unknown[:5])}。"))
            before = len(problems)
            values = {name: _field(column, raw.get(name), index, key, problems) for name, column in columns.items()}
            if len(problems) > before:
                continue
            for name in import_type.compact:
                if isinstance(values.get(name), str):
                    values[name] = normalise_identity(values[name], compact=True)
            for where, message in target.check(values):
                name = headers.get(where, where)
                problems.append(Problem(index, key, name, "BAD_VALUE", f"第 {index} 项的“{name}”：{message}。"))
            if values["record_id"] in seen:
                problems.append(Problem(index, key, "record_id", "DUPLICATE",
                                        f"第 {index} 项的记录号“{key}”与第 {seen[values['record_id']]} 项重复。"))
                continue
            seen[values["record_id"]] = index
            rows.append(values)
    return rows, problems


def push(target: Target, items: list) -> dict:
    """Check the whole batch, then write it (or raise BatchRejected and write nothing)."""
    rows, problems = _parse(target, items)
    if problems:
        raise BatchRejected(problems)
    stored = [target.clean(v) if target.clean else v for v in rows]
    written = target.save(stored, "api")
    if written.created or written.updated:
        audit.record("sync", target.entity, "", label=f"HIS 推送{target.label} {len(items)} 项：新增 "
                                                     f"{len(written.created)}，更正 {len(written.updated)}",
                     changes={"created": written.created[:2000], "updated": written.changes,
                              "unchanged": len(written.unchanged)})
    return written.as_dict()


DISCHARGES = Target("quality_discharge", "出院记录", discharge_imports.DISCHARGE_IMPORT, discharge_imports.validate,
                    discharge_services.save_discharges)
SURGERIES = Target("quality_surgery", "手术记录", surgery_imports.SURGERY_IMPORT, surgery_imports.validate,
                   surgery_services.save_surgeries, surgery_services.clean)
