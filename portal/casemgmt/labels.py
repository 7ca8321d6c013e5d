"""What case-management fields, values and list filters read as on screen (core.labels registry).

The enumerations are the ones the models and pages use, registered by reference.
"""

from __future__ import annotations

from portal.core import labels, masking

from .ledger import services as ledger
from .models import (
    ANCHORS,
    ENROLMENT_STATES,
    EVENT_KINDS,
    EVENT_STATES,
    GENDERS,
    ID_TYPES,
    OUTCOMES,
    PACKAGES,
    PLAN_SOURCES,
    SEVERITIES,
    SPECIAL_NEEDS,
    TASK_SOURCES,
    TASK_STATES,
    TASK_TYPES,
    TIME_SLOTS,
)
from .pathways import services as pathways
from .patients import queries as patient_queries
from .plans import queries as plan_queries
from .tasks import queries as task_queries

R = labels.register_values
for entity in (labels.ANY,):
    R(entity, "task_type", TASK_TYPES)
    R(entity, "time_slot", TIME_SLOTS)
    R(entity, "special_needs", SPECIAL_NEEDS)
    R(entity, "outcome", OUTCOMES)
    R(entity, "id_type", ID_TYPES)
    R(entity, "gender", GENDERS)
    R(entity, "package", PACKAGES)
    R(entity, "anchor", ANCHORS)
    R(entity, "severity", SEVERITIES)
    R(entity, "kind", EVENT_KINDS)
R("care_task", "status", TASK_STATES)
R("care_task", "source", TASK_SOURCES)
R("enrolment", "status", ENROLMENT_STATES)
R("adverse_event", "status", EVENT_STATES)
R("plan", "source", PLAN_SOURCES)
R("plan_item", "source", PLAN_SOURCES)
R("ledger_entry", "source", ledger.LEDGER_SOURCES)
R("pathway", "status", pathways.PATHWAY_STATES)

_TASK = {"due_date": "应完成日期", "first_due_date": "原定日期", "window_end": "时间窗截止", "task_type": "任务类型",
         "title": "任务", "bed": "床号", "time_slot": "时段", "special_needs": "特殊需求",
         "special_note": "特殊需求说明", "outcome": "结果", "values": "记录值", "outcome_values": "记录值",
         "score": "满意度评分", "attempts": "未联系上次数", "flagged": "待组长跟进", "status": "状态",
         "completed_at": "完成时间", "completed_by_id": "完成人", "reschedule_count": "改期次数"}
labels.register_fields("care_task", _TASK)
labels.register_fields("care_task_list", {"created": "新增", "updated": "更新", "cancelled": "取消",
                                          "carried_over": "结转", "unassigned": "未分派"})
labels.register_fields("plan_item", {**{k: v for k, v in _TASK.items() if k in ("task_type", "bed", "time_slot",
                                                                                 "special_needs", "special_note")},
                                     "external_id": "项目编号", "patient_ref": "住院号/证件号",
                                     "patient_name": "姓名", "service_item": "服务内容", "source": "来源"})
labels.register_fields("plan", {"source": "来源", "revision": "版本", "late": "迟报"})
labels.register_fields("patient", {"name": "姓名", "id_type": "证件类型", "id_number_masked": "证件号码",
                                   "phone_masked": "电话", "hospital_no": "住院号", "gender": "性别",
                                   "birth_date": "出生日期", "field": "查看内容"})
labels.register_fields("enrolment", {"icd10_code": "ICD-10 编码", "disease_name": "疾病名称", "tnm_stage": "TNM 分期",
                                     "package": "服务包", "package_months": "服务月数", "start_date": "入组日期",
                                     "end_date": "服务截止日期", "bed": "床号", "admission_date": "入院日期",
                                     "surgery_date": "手术日期", "discharge_date": "出院日期", "status": "状态",
                                     "closed_on": "结案日期", "close_reason": "结案原因"})
labels.register_fields("ledger_entry", {"service_date": "服务日期", "enrolment_id": "入组", "task_type": "服务项目",
                                        "title": "服务内容", "outcome": "结果", "icd10_code": "ICD-10 编码",
                                        "disease_name": "疾病名称", "icd10": "ICD-10 编码前缀"})
labels.register_fields("adverse_event", {"kind": "类别", "occurred_on": "发生日期", "severity": "严重程度",
                                         "description": "经过", "handling": "处理情况", "closed_at": "关闭时间"})
labels.register_fields("satisfaction_survey", {"task_id": "服务", "survey_month": "调查月份", "timeliness": "及时性",
                                               "effectiveness": "有效性", "attitude": "服务态度"})

# The lists' filters (what an export's header says it holds).
labels.register_filters("care_task", {"q": "床号或姓名", "group": "分组"},
                        {"group": task_queries.GROUPS, "status": task_queries.STATUSES})
labels.register_filters("plan_item", {"q": "搜索"}, {"status": plan_queries.ITEM_STATES})
labels.register_filters("patient", {"q": "姓名、住院号或证件号"}, {"status": patient_queries.PATIENT_STATES})
labels.register_filters("ledger_entry", {"q": "搜索"}, {"source": ledger.LEDGER_SOURCES})
labels.register_filters("adverse_event", {}, {"status": EVENT_STATES})
labels.register_filters(labels.ANY, {"manager_id": "个案管理师"})

# A patient's name never stands in clear in an audit record (screens show it masked): the patient's own, the name a
# plan item carries, and the search text of an export of lists searchable by name.
masking.register_audited("patient", "name")
masking.register_audited("plan_item", "patient_name")
for entity in ("patient", "care_task", "plan_item", "ledger_entry"):
    masking.register_audited(entity, "filters.q")
