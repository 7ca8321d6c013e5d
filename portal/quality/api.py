"""HIS push of quality data: POST /api/v1/quality/discharges and /quality/surgeries (batch, by record id)."""

from __future__ import annotations

from flask import jsonify

from portal.api.errors import ApiError
from portal.api.params import batch_items
from portal.api.registry import arr, boolean, endpoint, integer, obj, scope, text
from portal.auth.sync import BatchRejected

from . import IMPORT, push

MAX_BODY_BYTES = 8 * 1024 * 1024
PUSH = scope("quality.push", "医疗质量数据推送", "HIS 推送出院记录与手术记录（按记录号新增或更正）")
ERRORS = ("BAD_REQUEST", "TOO_LARGE", "VALIDATION")
ANSWER = obj(created=integer(), updated=integer(), unchanged=integer(), created_keys=arr(text()),
             updated_keys=arr(text()))
DISCHARGE = obj(("record_id", "mrn", "department_id", "admission_date", "discharge_date",
                 "discharge_mode"),
                record_id=text("出院记录号（唯一，按它识别；同号再推即更正）"), mrn=text("病案号"),
                admission_no=integer("住院次数"), patient_pseudonym=text("患者匿名标识（不要传姓名）"),
                department_id=text("出院科室代码或名称"), admission_date=text("入院日期 YYYY-MM-DD"),
                discharge_date=text("出院日期 YYYY-MM-DD"),
                discharge_mode=text("离院方式：首页代码 1/2/3/4/5/9 或 home_bed（家庭病床撤床）"),
                day_surgery=boolean("日间手术"))
SURGERY = obj(("record_id", "mrn", "department_id", "surgeon_id", "operation", "urgency", "started_at"),
              record_id=text("手术记录号（唯一，按它识别；同号再推即更正）"),
              discharge_record_id=text("所属出院记录号"),
              mrn=text("病案号"), department_id=text("手术科室代码或名称"), surgeon_id=text("主刀工号"),
              assistant1_id=text("一助工号"), assistant2_id=text("二助工号"), anaesthetist_id=text("麻醉医师工号"),
              anaesthesia_method=text("麻醉方式"), operation=text("手术编码：院内编码或国家临床版3.0编码"),
              operation_name=text("手术名称（不传则取技术目录）"), grade=integer("手术级别 1-4（不传则取技术目录）"),
              kind=text("surgery 手术 / interventional 介入 / procedure 操作"), minimally_invasive=boolean("微创"),
              incision=text("切口类型 0 / I / II / III"), healing=text("愈合等级 A 甲 / B 乙 / C 丙 / X 其他"),
              urgency=text("elective 择期 / emergency 急诊 / limited 限期"),
              started_at=text("开始时间（北京时间）YYYY-MM-DD HH:MM"), operation_date=text("手术日期（可不传）"),
              ended_at=text("结束时间（北京时间）"), day_surgery=boolean("日间手术"),
              planned_surgeon_id=text("计划主刀工号"))


def _run(target):
    try:
        return jsonify(push.push(target, batch_items(MAX_BODY_BYTES, max_items=push.MAX_ITEMS)))
    except BatchRejected as rejected:
        raise ApiError("VALIDATION", rejected.message, details=[p.as_dict() for p in rejected.problems]) from None


@endpoint("POST", "/quality/discharges", scope=PUSH, permission=IMPORT, summary="批量推送出院记录",
          request=obj(("items",), items=arr(DISCHARGE, push.MAX_ITEMS)), response=ANSWER, errors=ERRORS)
def push_discharges():
    """Create or correct discharges by record id; all or nothing per batch (details list every problem)."""
    return _run(push.DISCHARGES)


@endpoint("POST", "/quality/surgeries", scope=PUSH, permission=IMPORT, summary="批量推送手术记录",
          request=obj(("items",), items=arr(SURGERY, push.MAX_ITEMS)), response=ANSWER, errors=ERRORS)
def push_surgeries():
    """Create or correct surgeries by record id; all or nothing per batch (details list every problem)."""
    return _run(push.SURGERIES)
