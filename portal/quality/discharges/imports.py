"""Discharges (出院记录) from Excel through `portal/io/`: by record id, "replace the period" by discharge date.

No patient name is read: the 病案首页 export's name column, if present, is an unknown header and ignored.
"""

from __future__ import annotations

from typing import Any

from portal.io.columns import ImportColumn
from portal.io.imports import ImportType, register

from .. import IMPORT
from ..models import Discharge
from ..records import existing_rows
from . import services

COLUMNS = [
    ImportColumn("record_id", "出院记录号", required=True, max_length=64,
                 aliases=("记录号", "出院记录ID", "discharge_id", "record_id", "首页序号"),
                 help="HIS 中出院记录的唯一编号，重复导入时据此更正"),
    ImportColumn("mrn", "病案号", required=True, max_length=32, aliases=("住院号", "mrn")),
    ImportColumn("admission_no", "住院次数", kind="int", aliases=("第几次住院", "admission_no")),
    ImportColumn("patient_pseudonym", "患者标识", max_length=64, aliases=("患者编号", "患者假名", "pseudonym"),
                 help="患者的匿名标识（不要填写姓名）"),
    ImportColumn("department_id", "出院科室", kind="department", required=True,
                 aliases=("科室", "department", "出院科别"), help="科室名称或代码"),
    ImportColumn("admission_date", "入院日期", kind="date", required=True, aliases=("admission_date", "入院时间")),
    ImportColumn("discharge_date", "出院日期", kind="date", required=True, aliases=("discharge_date", "出院时间")),
    ImportColumn("discharge_mode", "离院方式", kind="quality_discharge_mode", required=True,
                 aliases=("discharge_mode",),
                 help="医嘱离院、医嘱转院、非医嘱离院、死亡、其他、家庭病床撤床，或首页代码 1/2/3/4/5/9"),
    ImportColumn("day_surgery", "日间手术", kind="bool", aliases=("是否日间手术", "day_surgery")),
]
HEADERS = {c.name: c.header for c in COLUMNS}


def validate(values: dict[str, Any]) -> list[tuple[str, str]]:
    if values["discharge_date"] < values["admission_date"]:
        return [(HEADERS["discharge_date"], "出院日期早于入院日期")]
    if values.get("admission_no") is not None and not 0 < values["admission_no"] < 1000:
        return [(HEADERS["admission_no"], "住院次数应为 1 至 999")]
    return []


def find(keys: list[tuple]) -> dict[tuple, Any]:
    found = existing_rows(Discharge, "record_id", [k[0] for k in keys], ())
    return {(rid,): row["id"] for rid, row in found.items()}


def write_many(new: list[dict], corrections: list[tuple[dict, Any]]) -> list[tuple]:
    written = services.save_discharges([*new, *(values for values, _ in corrections)], "import")
    return [(rid,) for rid in written.updated]


DISCHARGE_IMPORT = register(ImportType(
    code="quality_discharges", label="出院记录", columns=COLUMNS, key=("record_id",), find_existing=find,
    write_many=write_many, validate_row=validate, delete_period=services.delete_period, period_column="discharge_date",
    count_period=services.count_period, compact=("record_id", "mrn"), max_rows=100_000, job_rows=5000,
    permission=IMPORT.code, personal_data=True,
    example=("CY202611000123", "ZY0012345", 1, "P7F3A21", "普外科", "2026-11-02", "2026-11-09", "医嘱离院", "否")))
