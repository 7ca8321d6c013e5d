"""One label registry for what users read: the audit log, export headers and pages show Chinese labels and values,
never field names, codes or True/False."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from portal.auth import services
from portal.casemgmt.models import CareTask
from portal.casemgmt.tasks import services as tasks
from portal.core import labels
from portal.core.timeutil import local_today
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user, role

INTERNAL = re.compile(r"\b(role_codes|is_active_flag|is_active|task_type|status|outcome|attempts|case_manager_id|"
                      r"nutrition_screening|phone_followup|not_reached|pending|done|open|True|False|None)\b")


def audit_rows(client, entity_type: str) -> str:
    response = client.get(f"/audit/?entity_type={entity_type}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return text_of(response), re.findall(r'<td data-label="变更内容" class="changes">(.*?)</td>', html, re.S)


def test_the_audit_log_shows_a_role_change_and_a_task_update_in_chinese(client, tree):
    make_user("auditor1", ["auditor"], tree.hospital, name="审计员")
    doctor = make_user("doc1", ["clinician"], tree.surgery, name="李医生")
    services.update_user(doctor, login_name="doc1", staff_id=doctor.staff_id, wecom_userid=None,
                         role_ids=[role("clinician").id, role("dept_head").id])
    services.set_user_active(doctor, False, acting_user_id=None)
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.surgery, "王个管")
    patient = cm.make_patient("张三丰")
    cm.enrol(patient, case_manager=li, ward=ward, bed="12床")
    today = local_today()
    cm.make_plan(today, {"patient_id": patient.id, "ward_id": ward.id, "bed": "12床",
                         "task_type": "nutrition_screening"})
    tasks.build_daily_tasks(today)
    task = db.session.scalar(select(CareTask))
    tasks.reassign_task(task, wang.id)
    tasks.complete_task(task, wang, outcome="not_reached", today=today)
    db.session.commit()

    client.login("auditor1")
    _, cells = audit_rows(client, "user")
    shown = " ".join(text_of_cell(c) for c in cells)
    assert "角色：临床医师 → 临床医师、科主任" in shown or "角色：临床医师 → 科主任、临床医师" in shown, shown
    assert "启用：是 → 否" in shown
    assert not INTERNAL.search(shown), INTERNAL.search(shown)
    _, cells = audit_rows(client, "care_task")
    shown = " ".join(text_of_cell(c) for c in cells)
    assert "个案管理师：李个管 → 王个管" in shown and "结果：未联系上" in shown and "状态：待完成" in shown
    assert "未联系上次数：1" in shown
    assert not INTERNAL.search(shown), INTERNAL.search(shown)
    changed_item = labels.changes_text("plan_item", {"task_type": {"before": "phone_followup",
                                                                    "after": "nutrition_screening"},
                                                      "is_cancelled": {"before": False, "after": True}})
    assert changed_item == "任务类型：电话随访 → 营养筛查；已取消：否 → 是"
    # The audit export reads the same.
    exported = client.get("/audit/export?entity_type=care_task")
    rows = list(load_workbook(io.BytesIO(exported.data)).active.iter_rows(values_only=True))
    assert rows[1][0] == "筛选条件：对象类型：个案任务"
    column = rows[2].index("变更内容")
    assert any("结果：未联系上" in (r[column] or "") for r in rows[3:])
    assert not any(INTERNAL.search(r[column] or "") for r in rows[3:])


def text_of_cell(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("\n", " ")


def test_an_export_with_filters_has_a_chinese_filter_line(client, tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="赵组长")
    patient = cm.make_patient("张三丰")
    cm.enrol(patient, case_manager=li, ward=ward, bed="12床")
    day = local_today() + timedelta(days=1)
    cm.make_plan(day, {"patient_id": patient.id, "ward_id": ward.id, "task_type": "nutrition_screening"})
    tasks.build_daily_tasks(day)
    db.session.commit()
    client.login("cm_boss")
    response = client.get(f"/casemgmt/tasks/export?day={day}&manager_id={li.id}&task_type=nutrition_screening"
                          f"&ward_id={ward.id}&status=done&group=ward")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[1][0] == (f"筛选条件：日期：{day}，个案管理师：李个管，分组：按病区，病区：胸外病区，"
                          "任务类型：营养筛查，状态：已处理")


def test_the_registry_reads_values_booleans_lists_and_filters():
    assert labels.value_label("care_task", "status", "declined") == "患者拒绝"
    assert labels.value_label("x", "anything", False) == "否"
    assert labels.value_label("care_task", "special_needs", ["wheelchair", "fasting"]) == "轮椅、禁食"
    assert labels.value_label("care_task", "note", None) == "（空）"
    assert labels.field_label("plan_item", "external_id") == "项目编号"
    assert labels.describe_filters({"page": "2", "q": "", "day": "2026-12-02"}) == "日期：2026-12-02"
    assert labels.describe_filters({}) == "全部"
    # A domain's enumeration is registered by reference: a state added later reads at once.
    from portal.casemgmt.models import TASK_STATES
    assert labels.value_label("care_task", "status", "unreached") == TASK_STATES["unreached"]
