"""Cell kinds of the quality imports (and of the HIS push, which parses its fields with the same columns).

Staff by 工号, operations by 院内编码 or 国家临床版3.0 code (from the technology catalogue), and the
enumerations that files write in several ways (Ⅰ类 / I / 1, 甲 / 甲级, 择期 / 择期手术).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from portal.auth.models import Staff
from portal.catalogue.models import Technology
from portal.extensions import db
from portal.io.columns import CellError, parse_text, register_lookup
from portal.io.imports import register_table_lookup

from .models.choices import (
    DISCHARGE_MODE_WORDS,
    DISCHARGE_MODES,
    HEALING_WORDS,
    HEALINGS,
    INCISION_WORDS,
    INCISIONS,
    KINDS,
    SSI_DEPTHS,
    SSI_WORDS,
    URGENCIES,
    URGENCY_WORDS,
)

KIND_OF_CATEGORY = {"surgery": "surgery", "interventional": "interventional"}  # the rest: 操作


def staff_table() -> dict[str, int]:
    """Every member of staff by 工号 (upper case): one query per file."""
    return {number.upper(): sid for sid, number in db.session.execute(select(Staff.id, Staff.employee_no))}


def staff_by_number(value: Any, table: dict[str, int]) -> int:
    text = "".join(parse_text(value, 32).split()).upper()
    if text not in table:
        raise CellError(f"找不到工号“{text}”的人员（请填写工号，并先导入人员档案）")
    return table[text]


def operation_table() -> dict[str, SimpleNamespace]:
    """Active catalogue entries by 院内编码 and by 国家临床版 code: one query per file."""
    table: dict[str, SimpleNamespace] = {}
    national: dict[str, list[SimpleNamespace]] = {}
    stmt = select(Technology.id, Technology.code, Technology.national_code, Technology.name, Technology.grade,
                  Technology.category, Technology.minimally_invasive, Technology.perf_grade4,
                  Technology.day_surgery).where(Technology.status == "active")
    for row in db.session.execute(stmt):
        entry = SimpleNamespace(id=row.id, code=row.code, national_code=row.national_code or "", name=row.name,
                                grade=row.grade, kind=KIND_OF_CATEGORY.get(row.category, "procedure"),
                                minimally_invasive=row.minimally_invasive, perf_grade4=row.perf_grade4,
                                day_surgery=row.day_surgery)
        table[row.code.upper()] = entry
        if row.national_code:
            national.setdefault(row.national_code.upper(), []).append(entry)
    for code, entries in national.items():
        table.setdefault(code, entries[0] if len(entries) == 1 else SimpleNamespace(ambiguous=entries))
    return table


def operation_by_code(value: Any, table: dict[str, SimpleNamespace]) -> SimpleNamespace:
    text = "".join(parse_text(value, 40).split()).upper()
    found = table.get(text)
    if found is None:
        raise CellError(f"技术目录中没有手术编码“{text}”（可填院内编码或国家临床版3.0编码）")
    if hasattr(found, "ambiguous"):
        codes = "、".join(e.code for e in found.ambiguous[:5])
        raise CellError(f"国家临床版编码“{text}”对应多个院内条目（{codes}），请改填院内编码")
    return found


def words(kind: str, choices: dict[str, str], extra: dict[str, str], hint: str = "") -> None:
    """An enumeration that accepts its stored values, its labels and the usual variants."""
    table = {k.lower(): k for k in choices} | {v: k for k, v in choices.items()} | extra

    def parse(value: Any) -> str:
        text = parse_text(value, 40)
        found = table.get(text) or table.get(text.lower()) or table.get(text.replace("级", "").replace("类", ""))
        if found is None:
            raise CellError(f"“{text[:20]}”无效，应为以下之一：{hint or '、'.join(choices.values())}")
        return found

    register_lookup(kind, parse)


register_table_lookup("quality_staff", staff_table, staff_by_number)
register_table_lookup("quality_operation", operation_table, operation_by_code)
words("quality_discharge_mode", DISCHARGE_MODES, DISCHARGE_MODE_WORDS,
      "医嘱离院(1)、医嘱转院(2)、医嘱转社区/乡镇卫生院(3)、非医嘱离院(4)、死亡(5)、其他(9)、家庭病床撤床")
words("quality_kind", KINDS, {"介入治疗": "interventional", "介入手术": "interventional", "治疗性操作": "procedure",
                              "诊断性操作": "procedure"})
words("quality_incision", INCISIONS, INCISION_WORDS, "0类、Ⅰ类、Ⅱ类、Ⅲ类")
words("quality_healing", HEALINGS, HEALING_WORDS, "甲、乙、丙、其他")
words("quality_urgency", URGENCIES, URGENCY_WORDS, "择期、急诊、限期")
words("quality_ssi", SSI_DEPTHS, SSI_WORDS, "表浅切口、深部切口、器官/腔隙")
