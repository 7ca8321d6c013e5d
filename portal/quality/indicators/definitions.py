"""The performance indicators (公立医院绩效考核), counted in persons (discharges), never in operation codes.

Each indicator is a numerator and a denominator among the counts below; ``raw_counts`` states every count
straight from the records (surgeries and matched events, by EXISTS), independent of the flags and the monthly
summary that the pages read: the tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, exists, func, or_, select

from portal.extensions import db

from ..models import COUNTED_KINDS, EXCLUDED_MODE, Discharge, QualityEvent, Surgery
from ..models.choices import REOP_31D, REOP_48H

# count -> what it counts (the column headers of the report)
COUNTS = {
    "discharges": "出院人数",
    "is_surgical": "手术/介入出院人数",
    "has_mi": "微创手术出院人数",
    "has_grade4": "四级手术出院人数",
    "has_elective": "择期手术出院人数",
    "is_day_elective": "日间手术出院人数",
    "has_reop48": "48小时内非计划重返人数",
    "has_reop31": "31天内非计划重返人数",
    "has_complication": "手术并发症人数",
    "has_class1": "Ⅰ类切口手术人数",
    "has_class1_infected": "Ⅰ类切口丙级愈合人数",
}


@dataclass(frozen=True)
class Indicator:
    key: str
    title: str
    numerator: str
    denominator: str
    definition: str
    lower_is_better: bool = False


INDICATORS = (
    Indicator("surgery_rate", "出院患者手术占比", "is_surgical", "discharges",
              "有一次及以上手术或介入治疗的出院人数 ÷ 同期出院人数 × 100%"),
    Indicator("mi_rate", "出院患者微创手术占比", "has_mi", "is_surgical",
              "有微创手术的出院人数 ÷ 同期手术/介入出院人数 × 100%"),
    Indicator("grade4_rate", "出院患者四级手术比例", "has_grade4", "is_surgical",
              "有四级手术（含按四级管理的介入治疗）的出院人数 ÷ 同期手术/介入出院人数 × 100%"),
    Indicator("day_rate", "日间手术占择期手术比例", "is_day_elective", "has_elective",
              "择期手术出院人数中日间手术的人数 ÷ 同期择期手术出院人数 × 100%"),
    Indicator("reop48_rate", "非计划重返手术室再次手术率（48小时内）", "has_reop48", "is_surgical",
              "首次手术结束后 48 小时内非计划重返手术室再次手术的人数 ÷ 同期手术/介入出院人数 × 100（每百人）", True),
    Indicator("reop31_rate", "非计划重返手术室再次手术率（31天内）", "has_reop31", "is_surgical",
              "首次手术结束后 31 天内非计划重返手术室再次手术的人数 ÷ 同期手术/介入出院人数 × 100（每百人）", True),
    Indicator("complication_rate", "手术患者并发症发生率", "has_complication", "is_surgical",
              "发生手术并发症的手术/介入出院人数 ÷ 同期手术/介入出院人数 × 100%", True),
    Indicator("ssi_rate", "Ⅰ类切口手术部位感染率", "has_class1_infected", "has_class1",
              "Ⅰ类切口手术中愈合等级为丙级的人数 ÷ 同期Ⅰ类切口手术人数 × 100%", True),
)
BY_KEY = {i.key: i for i in INDICATORS}
RULES = ("统计对象：出院日期在所选期间内的出院记录，按人（出院记录）计数，一人多次手术只计一次；"
         "家庭病床撤床不计入任何指标。\n"
         "手术/介入：手术记录的“手术/介入”判定为手术或介入治疗（操作不计）；四级：手术级别为四级，或技术目录标为"
         "“绩效考核四级手术”（按四级管理的介入治疗）；非计划重返与并发症只计已关联到手术的事件。")


def _surgery(discharge, *conditions):
    return exists().where(Surgery.discharge_record_id == discharge.record_id, Surgery.kind.in_(COUNTED_KINDS),
                          *conditions)


def _event(discharge, *conditions):
    return exists().where(QualityEvent.surgery_id == Surgery.id, QualityEvent.status == "matched",
                          Surgery.discharge_record_id == discharge.record_id, Surgery.kind.in_(COUNTED_KINDS),
                          *conditions)


def conditions(d=Discharge) -> dict:
    """Each count's condition on a discharge, straight from its surgeries and events."""
    surgical = _surgery(d)
    elective = _surgery(d, Surgery.urgency == "elective")
    return {
        "is_surgical": surgical,
        "has_mi": _surgery(d, Surgery.minimally_invasive),
        "has_grade4": _surgery(d, or_(Surgery.grade == 4, Surgery.perf_grade4)),
        "has_elective": elective,
        "is_day_elective": and_(elective, or_(d.day_surgery, _surgery(d, Surgery.urgency == "elective",
                                                                       Surgery.day_surgery))),
        "has_reop48": _event(d, QualityEvent.kind == "reoperation", QualityEvent.interval_hours <= REOP_48H),
        "has_reop31": _event(d, QualityEvent.kind == "reoperation", QualityEvent.interval_hours <= REOP_31D),
        "has_complication": _event(d, QualityEvent.kind == "complication"),
        "has_class1": _surgery(d, Surgery.incision == "I"),
        "has_class1_infected": _surgery(d, Surgery.incision == "I", Surgery.healing == "C"),
    }


def raw_counts(start: date, end: date, department_ids=None) -> dict[int, dict[str, int]]:
    """Every count per discharge department over a period, from the records themselves."""
    stmt = (select(Discharge.department_id, func.count(Discharge.id),
                   *(func.sum(case((condition, 1), else_=0)) for condition in conditions().values()))
            .where(Discharge.discharge_date.between(start, end), Discharge.discharge_mode != EXCLUDED_MODE)
            .group_by(Discharge.department_id))
    if department_ids is not None:
        stmt = stmt.where(Discharge.department_id.in_(list(department_ids)))
    return {row[0]: dict(zip(COUNTS, (int(v or 0) for v in row[1:]), strict=True)) for row in db.session.execute(stmt)}


def rate(numerator: int | None, denominator: int | None):
    from decimal import Decimal

    if not denominator:
        return None
    return Decimal(numerator or 0) / Decimal(denominator)
