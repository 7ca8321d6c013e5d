"""Surgeries (手术记录) from Excel through `portal/io/`: by record id, "replace the period" by operation date.

Staff by 工号, the operation by 院内编码 or 国家临床版3.0 code from the technology catalogue: an unknown one is a
row error naming the value. Blank grade, name, 手术/介入 and 微创 cells take the catalogue entry's.
"""

from __future__ import annotations

from typing import Any

from portal.io.columns import ImportColumn
from portal.io.imports import ImportType, register

from .. import IMPORT
from ..models import Surgery
from ..records import existing_rows
from . import services

COLUMNS = [
    ImportColumn("record_id", "手术记录号", required=True, max_length=64,
                 aliases=("手术记录ID", "手术序号", "surgery_id", "record_id"),
                 help="HIS 中手术记录的唯一编号，重复导入时据此更正"),
    ImportColumn("discharge_record_id", "出院记录号", max_length=64, aliases=("discharge_id", "首页序号"),
                 help="所属出院记录（出院后补齐亦可）"),
    ImportColumn("mrn", "病案号", required=True, max_length=32, aliases=("住院号", "mrn")),
    ImportColumn("department_id", "手术科室", kind="department", required=True, aliases=("科室", "department"),
                 help="科室名称或代码"),
    ImportColumn("surgeon_id", "主刀工号", kind="quality_staff", required=True,
                 aliases=("主刀", "术者工号", "surgeon")),
    ImportColumn("assistant1_id", "一助工号", kind="quality_staff", aliases=("第一助手", "一助", "assistant1")),
    ImportColumn("assistant2_id", "二助工号", kind="quality_staff", aliases=("第二助手", "二助", "assistant2")),
    ImportColumn("anaesthetist_id", "麻醉医师工号", kind="quality_staff", aliases=("麻醉医师", "anaesthetist")),
    ImportColumn("anaesthesia_method", "麻醉方式", max_length=40, aliases=("anaesthesia_method",)),
    ImportColumn("operation", "手术编码", kind="quality_operation", required=True,
                 aliases=("手术操作编码", "操作编码", "operation_code", "国家临床版编码"),
                 help="院内编码或国家临床版3.0编码，须在技术目录中"),
    ImportColumn("operation_name", "手术名称", max_length=200, aliases=("手术操作名称", "operation_name")),
    ImportColumn("grade", "手术级别", kind="int", aliases=("级别", "grade"), help="1 至 4；留空按技术目录"),
    ImportColumn("kind", "手术/介入", kind="quality_kind", aliases=("手术介入", "操作类型", "kind"),
                 help="手术、介入或操作；留空按技术目录"),
    ImportColumn("minimally_invasive", "微创", kind="bool", aliases=("是否微创", "minimally_invasive")),
    ImportColumn("incision", "切口类型", kind="quality_incision", aliases=("切口", "切口等级", "incision")),
    ImportColumn("healing", "愈合等级", kind="quality_healing", aliases=("愈合", "healing")),
    ImportColumn("urgency", "手术类别", kind="quality_urgency", required=True,
                 aliases=("择期/急诊", "急诊择期", "urgency"), help="择期、急诊或限期"),
    ImportColumn("started_at", "开始时间", kind="datetime", required=True, aliases=("手术开始时间", "started_at"),
                 help="北京时间，如 2026-11-23 08:30"),
    ImportColumn("operation_date", "手术日期", kind="date", aliases=("operation_date",),
                 help="可不填：取开始时间的日期"),
    ImportColumn("ended_at", "结束时间", kind="datetime", aliases=("手术结束时间", "ended_at")),
    ImportColumn("day_surgery", "日间手术", kind="bool", aliases=("是否日间手术", "day_surgery")),
    ImportColumn("planned_surgeon_id", "计划主刀工号", kind="quality_staff",
                 aliases=("预约主刀", "planned_surgeon")),
]
HEADERS = {c.name: c.header for c in COLUMNS}


def validate(values: dict[str, Any]) -> list[tuple[str, str]]:
    day = services.local(values["started_at"]).date()
    if values.get("operation_date") not in (None, day):
        return [(HEADERS["operation_date"], "手术日期与开始时间的日期不一致")]
    values["operation_date"] = day  # the period a "replace" covers
    return [(HEADERS[name], message) for name, message in services.check(values)]


def find(keys: list[tuple]) -> dict[tuple, Any]:
    found = existing_rows(Surgery, "record_id", [k[0] for k in keys], ())
    return {(rid,): row["id"] for rid, row in found.items()}


def write_many(new: list[dict], corrections: list[tuple[dict, Any]]) -> list[tuple]:
    rows = [services.clean(v) for v in [*new, *(values for values, _ in corrections)]]
    written = services.save_surgeries(rows, "import")
    return [(rid,) for rid in written.updated]


SURGERY_IMPORT = register(ImportType(
    code="quality_surgeries", label="手术记录", columns=COLUMNS, key=("record_id",), find_existing=find,
    write_many=write_many, validate_row=validate, delete_period=services.delete_period, period_column="operation_date",
    count_period=services.count_period, compact=("record_id", "discharge_record_id", "mrn"), max_rows=100_000,
    job_rows=5000, permission=IMPORT.code, personal_data=True,
    example=("SS202611000456", "CY202611000123", "ZY0012345", "普外科", "E0001", "E0002", "", "E0101", "全身麻醉",
             "HOSP-0001", "", "", "", "", "Ⅰ类", "甲", "择期", "2026-11-03 08:30", "2026-11-03", "2026-11-03 10:05",
             "否", "")))
