"""Quality events by date (按日期导入) through `portal/io/`: one import type per kind, each with "replace the period".

A row names its surgery by 手术记录号, or by 病案号 + 手术日期; a surgery not yet known leaves the event unmatched
(kept, listed for correction, matched when the surgery arrives). A row without 事件编号 gets a stable one.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from portal.io.columns import ImportColumn
from portal.io.imports import ImportType, register

from .. import IMPORT
from ..models import EVENT_KINDS, QualityEvent
from ..records import existing_rows
from . import services

NAMES = {"complication": ("并发症名称", ("并发症", "诊断名称")),
         "reoperation": ("再次手术名称", ("再次手术", "手术名称")),
         "infection": ("感染诊断", ("感染名称", "感染部位诊断")), "ssi": ("感染诊断", ("SSI诊断", "感染名称"))}


def _columns(kind: str) -> list[ImportColumn]:
    name, aliases = NAMES[kind]
    columns = [
        ImportColumn("event_no", "事件编号", max_length=64, aliases=("编号", "上报编号", "event_no"),
                     help="上报系统的编号；留空时按手术、日期与名称生成，重复导入时据此更正"),
        ImportColumn("surgery_record_id", "手术记录号", max_length=64, aliases=("手术记录ID", "surgery_id"),
                     help="与“病案号 + 手术日期”二选一"),
        ImportColumn("mrn", "病案号", max_length=32, aliases=("住院号", "mrn")),
        ImportColumn("operation_date", "手术日期", kind="date", aliases=("首次手术日期", "operation_date")),
        ImportColumn("event_date", "发生日期", kind="date", required=True, aliases=("日期", "event_date", "发现日期")),
        ImportColumn("name", name, max_length=200, aliases=(*aliases, "name")),
    ]
    if kind == "reoperation":
        columns += [ImportColumn("reoperated_at", "再次手术时间", kind="datetime",
                                 aliases=("重返时间", "reoperated_at"), help="北京时间；与首次手术结束时间相减得间隔"),
                    ImportColumn("interval_hours", "间隔小时数", kind="decimal",
                                 aliases=("间隔(小时)", "interval_hours"), help="不填再次手术时间时必填")]
    if kind == "ssi":
        columns.append(ImportColumn("ssi_depth", "感染部位", kind="quality_ssi", required=True,
                                    aliases=("SSI分类", "部位", "ssi_depth"), help="表浅切口、深部切口、器官/腔隙"))
    columns.append(ImportColumn("note", "备注", max_length=500))
    return columns


def _validate(kind: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    if not values.get("surgery_record_id") and not (values.get("mrn") and values.get("operation_date")):
        return [("手术记录号", "请填写手术记录号，或同时填写病案号和手术日期")]
    if kind == "reoperation":
        if values.get("reoperated_at") is None and values.get("interval_hours") is None:
            return [("再次手术时间", "请填写再次手术时间或间隔小时数")]
        interval = values.get("interval_hours")
        if interval is not None and not 0 <= interval < 100_000:
            return [("间隔小时数", "间隔小时数应为 0 至 99999")]
    if not values.get("event_no"):
        values["event_no"] = services.stable_event_no(kind, values)
    return []


def _find(kind: str, keys: list[tuple]) -> dict[tuple, Any]:
    found = existing_rows(QualityEvent, "event_no", [k[0] for k in keys], (), (QualityEvent.kind == kind,))
    return {(no,): row["id"] for no, row in found.items()}


def _write_many(kind: str, new: list[dict], corrections: list[tuple[dict, Any]]) -> list[tuple]:
    written = services.save_events(kind, [*new, *(values for values, _ in corrections)], "import")
    return [(no,) for no in written.updated]


CODES = {"complication": "quality_complications", "reoperation": "quality_reoperations",
         "infection": "quality_infections", "ssi": "quality_ssi"}
EXAMPLES = {"complication": ("", "SS202611000456", "", "", "2026-11-05", "术后出血", ""),
            "reoperation": ("", "SS202611000456", "", "", "2026-11-04", "剖腹探查止血术", "2026-11-04 14:00", "", ""),
            "infection": ("", "", "ZY0012345", "2026-11-03", "2026-11-07", "肺部感染", ""),
            "ssi": ("", "SS202611000456", "", "", "2026-11-10", "切口感染", "表浅切口", "")}

EVENT_IMPORTS = {kind: register(ImportType(
    code=CODES[kind], label=label, columns=_columns(kind), key=("event_no",), find_existing=partial(_find, kind),
    write_many=partial(_write_many, kind), validate_row=partial(_validate, kind),
    delete_period=partial(services.delete_period, kind), period_column="event_date",
    count_period=partial(services.count_period, kind), compact=("event_no", "surgery_record_id", "mrn"),
    max_rows=50_000, job_rows=5000, permission=IMPORT.code, personal_data=True, example=EXAMPLES[kind]))
    for kind, label in EVENT_KINDS.items()}
