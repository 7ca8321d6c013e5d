"""Management pathways: create, publish steps as versions, per-row validation, versioning, activation, bad input."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from portal.casemgmt.models import CareTask, Enrolment, Pathway, PathwayStep, PathwayVersion
from portal.casemgmt.tasks import services as tasks
from portal.core.audit import AuditLog
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def s(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="周组长")
    return SimpleNamespace(tree=tree, ward=ward, li=li)


def step_form(*rows: dict, note: str = "", action: str | None = None) -> dict:
    data = {"note": note}
    if action:
        data["action"] = action
    for i, row in enumerate(rows):
        full = {"title": "", "task_type": "phone_followup", "anchor": "discharge", "offset_days": "0",
                "window_days": "0", "recur_every_days": "", "recur_times": "", "outcome_fields": ""} | row
        data.update({f"steps-{i}-{key}": value for key, value in full.items()})
    return data


FOLLOW_UP = {"title": "出院后电话随访", "offset_days": "1", "window_days": "2", "outcome_fields": "体温，伤口情况"}
REMINDER = {"title": "复诊提醒", "task_type": "revisit_reminder", "offset_days": "7", "window_days": "3"}


def create(client, name="肺癌术后管理路径", prefix="c34") -> Pathway:
    response = client.submit("/casemgmt/pathways/new", {"name": name, "icd10_prefix": prefix, "package": "any",
                                                        "description": ""})
    assert response.status_code == 303, text_of(response)[-300:]
    pathway = db.session.scalar(select(Pathway).where(Pathway.name == name))
    assert response.headers["Location"].endswith(f"/casemgmt/pathways/{pathway.id}/steps")
    return pathway


def test_create_publish_list_and_view(client, s):
    client.login("cm_boss")
    assert client.get("/casemgmt/pathways/new").status_code == 200
    pathway = create(client)
    assert pathway.icd10_prefix == "C34" and pathway.current_version is None
    blank = text_of(client.get(f"/casemgmt/pathways/{pathway.id}/steps"))
    assert "当前为未发布" in blank and "第 1 步" in blank and "第 2 步" not in blank
    published = client.submit(f"/casemgmt/pathways/{pathway.id}/steps",
                              step_form(FOLLOW_UP, REMINDER, {}, note="初版"))  # the blank row is ignored
    assert published.status_code == 303, text_of(published)[-500:]
    version = db.session.scalar(select(PathwayVersion).where(PathwayVersion.pathway_id == pathway.id))
    assert (version.number, version.note) == (1, "初版")
    assert [st.title for st in version.steps] == ["出院后电话随访", "复诊提醒"]
    assert version.steps[0].outcome_fields == ["体温", "伤口情况"]
    listing = text_of(client.get("/casemgmt/pathways"))
    assert "肺癌术后管理路径 C34 全部服务包 第 1 版 2 启用" in listing
    assert "肺癌术后管理路径" in text_of(client.htmx_get("/casemgmt/pathways?q=C3"))
    assert "肺癌术后管理路径" not in text_of(client.htmx_get("/casemgmt/pathways?status=inactive"))
    page = text_of(client.get(f"/casemgmt/pathways/{pathway.id}"))
    assert "第 1 版的步骤" in page and "出院后 1 天，2 天内完成" in page and "体温、伤口情况" in page
    assert "当前版本" in page
    duplicate = client.submit("/casemgmt/pathways/new", {"name": "肺癌术后管理路径", "icd10_prefix": "C34",
                                                         "package": "any"})
    assert duplicate.status_code == 422 and "已有同名" in text_of(duplicate)


def test_step_errors_point_at_their_rows_and_nothing_is_published(client, s):
    pathway = cm.make_pathway()
    client.login("cm_boss")
    before = (count(PathwayVersion), count(PathwayStep))
    response = client.submit(f"/casemgmt/pathways/{pathway.id}/steps", step_form(
        FOLLOW_UP,
        {"title": "坏的类型", "task_type": "teleport"},
        {"title": "只填了间隔", "recur_every_days": "7"},
        {"title": "偏移过大", "offset_days": "99999999999999999999"},
        {"title": "非整数", "window_days": "两天"},
        {"title": "", "offset_days": "5"},
        {"title": "", "anchor": "admission"}))  # only a choice changed: still a step to finish, not dropped
    assert response.status_code == 422
    html, page = response.get_data(as_text=True), text_of(response)
    assert "有 6 个步骤需要修改" in page and "第 7 步：请填写步骤名称" in page
    assert 'data-testid="step-error-2"' in html and "第 2 步：请选择任务类型" in page
    assert "第 3 步：重复的步骤需同时填写重复间隔和重复次数" in page
    assert "第 4 步：偏移天数应在 -3650 到 3650 之间" in page
    assert "第 5 步：时间窗（天）应为整数" in page
    assert "第 6 步：请填写步骤名称" in page
    assert 'data-testid="step-error-1"' not in html
    assert 'value="坏的类型"' in html  # what was typed comes back for correction
    assert (count(PathwayVersion), count(PathwayStep)) == before
    empty = client.submit(f"/casemgmt/pathways/{pathway.id}/steps", step_form({}))
    assert empty.status_code == 422 and "至少需要一个步骤" in text_of(empty)
    assert (count(PathwayVersion), count(PathwayStep)) == before


def test_add_remove_and_move_rows_without_publishing(client, s):
    pathway = cm.make_pathway()
    client.login("cm_boss")
    url = f"/casemgmt/pathways/{pathway.id}/steps"
    added = client.submit(url, step_form(FOLLOW_UP, REMINDER, action="add"), htmx=True)
    html = added.get_data(as_text=True)
    assert added.status_code == 200 and 'id="pathway-steps"' in html and "<html" not in html
    assert "第 3 步" in text_of(added) and "steps-2-title" in html
    moved = client.submit(url, step_form(FOLLOW_UP, REMINDER, action="up-1"))
    assert moved.get_data(as_text=True).index("复诊提醒") < moved.get_data(as_text=True).index("出院后电话随访")
    removed = client.submit(url, step_form(FOLLOW_UP, REMINDER, action="remove-0"))
    assert "出院后电话随访" not in text_of(removed) and "第 2 步" not in text_of(removed)
    assert count(PathwayVersion) == 1
    assert client.submit(url, step_form(FOLLOW_UP, action="explode")).status_code == 400


def test_publishing_v2_keeps_enrolments_and_tasks_on_v1_and_new_enrolments_get_v2(client, s):
    pathway = cm.make_pathway()
    v1 = pathway.current_version
    first = cm.enrol(cm.make_patient("钱一", phone=None), case_manager=s.li, ward=s.ward,
                     admission_date=date(2026, 11, 10), discharge_date=date(2026, 11, 20))
    tasks.build_daily_tasks(date(2026, 11, 21))
    db.session.commit()
    (task,) = db.session.scalars(select(CareTask)).all()
    v1_step_ids = [st.id for st in v1.steps]
    assert task.pathway_step_id == v1_step_ids[0]
    client.login("cm_boss")
    response = client.submit(f"/casemgmt/pathways/{pathway.id}/steps", step_form(
        {**FOLLOW_UP, "title": "出院次日电话随访", "window_days": "1"}, REMINDER,
        {"title": "每周用药提醒", "task_type": "medication_reminder", "offset_days": "0", "recur_every_days": "7",
         "recur_times": "4"}, note="增加用药提醒"))
    assert response.status_code == 303, text_of(response)[-500:]
    pathway = db.session.get(Pathway, pathway.id, populate_existing=True)
    v2 = pathway.current_version
    assert v2.number == 2 and len(v2.steps) == 3
    first = db.session.get(Enrolment, first.id, populate_existing=True)
    assert first.pathway_version_id == v1.id
    task = db.session.get(CareTask, task.id, populate_existing=True)
    assert (task.status, task.pathway_step_id, task.title) == ("open", v1_step_ids[0], "出院后电话随访")
    assert [st.title for st in db.session.get(PathwayVersion, v1.id, populate_existing=True).steps] == [
        "出院后电话随访", "复诊提醒"]
    second = cm.enrol(cm.make_patient("孙二", phone=None), case_manager=s.li, ward=s.ward)
    assert second.pathway_version_id == v2.id
    old = text_of(client.get(f"/casemgmt/pathways/{pathway.id}?version=1"))
    assert "第 1 版的步骤" in old and "历史版本（只读）" in old and "出院后电话随访" in old
    current = text_of(client.get(f"/casemgmt/pathways/{pathway.id}"))
    assert "第 2 版的步骤" in current and "每 7 天，共 4 次" in current and "增加用药提醒" in current
    assert "1（1）" in current  # version 1: one enrolment, still active
    assert "第 1 版" in text_of(client.get(f"/casemgmt/patients/{first.patient_id}"))
    assert db.session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "pathway")).all().count(
        "publish") == 2


def test_deactivate_and_activate(client, s):
    pathway = cm.make_pathway()
    client.login("cm_boss")
    off = client.submit(f"/casemgmt/pathways/{pathway.id}/toggle", {"active": "0"})
    assert off.status_code == 303 and not db.session.get(Pathway, pathway.id, populate_existing=True).is_active
    enrolment = cm.enrol(cm.make_patient("钱一", phone=None), case_manager=s.li)
    assert enrolment.pathway_version_id is None  # an inactive pathway matches no new enrolment
    assert client.submit(f"/casemgmt/pathways/{pathway.id}/toggle", {"active": "1"}).status_code == 303
    assert db.session.get(Pathway, pathway.id, populate_existing=True).is_active
    assert [a.action for a in db.session.scalars(select(AuditLog).where(
        AuditLog.entity_type == "pathway", AuditLog.action.in_(("activate", "deactivate"))).order_by(AuditLog.id))] \
        == ["deactivate", "activate"]
    empty = create(client, "空路径", "I21")
    assert client.submit(f"/casemgmt/pathways/{empty.id}/toggle", {"active": "0"}).status_code == 303
    refused = client.submit(f"/casemgmt/pathways/{empty.id}/toggle", {"active": "1"})
    assert refused.status_code == 409 and "还没有发布任何版本" in text_of(refused)


def test_pathways_need_their_permission(client, s):
    pathway = cm.make_pathway()
    assert client.get("/casemgmt/pathways").status_code == 302
    client.login("cm_li")  # a case manager: no casemgmt.pathways
    for url in ("/casemgmt/pathways", f"/casemgmt/pathways/{pathway.id}", "/casemgmt/pathways/new",
                f"/casemgmt/pathways/{pathway.id}/steps"):
        assert client.get(url).status_code == 403, url
    assert client.submit(f"/casemgmt/pathways/{pathway.id}/steps", step_form(FOLLOW_UP)).status_code == 403
    assert client.submit(f"/casemgmt/pathways/{pathway.id}/toggle", {"active": "0"}).status_code == 403
    assert count(PathwayVersion) == 1 and db.session.get(Pathway, pathway.id).is_active


def test_bad_input_is_refused_in_chinese_and_changes_nothing(client, s):
    pathway = cm.make_pathway()
    client.login("cm_boss")
    before = (count(Pathway), count(PathwayVersion), count(PathwayStep), count(AuditLog))
    for url, status in ((f"/casemgmt/pathways/{pathway.id}?version=abc", 400),
                        (f"/casemgmt/pathways/{pathway.id}?version=99", 404),
                        (f"/casemgmt/pathways/{pathway.id}?version=99999999999999999999", 400),
                        ("/casemgmt/pathways/99999999999999999999", 404), ("/casemgmt/pathways/0/steps", 404),
                        ("/casemgmt/pathways?status=deleted", 400), ("/casemgmt/pathways?page=-1", 400)):
        response = client.get(url)
        assert response.status_code == status and any("\u4e00" <= ch <= "\u9fff" for ch in text_of(response)), url
    for data, message in (({"name": "", "icd10_prefix": "C34", "package": "any"}, "请填写路径名称"),
                          ({"name": "x", "icd10_prefix": "肺癌", "package": "any"}, "ICD-10 编码前缀格式不正确"),
                          ({"name": "x", "icd10_prefix": "C34", "package": "gold"}, "不是有效的选择"),
                          ({"name": "x" * 101, "icd10_prefix": "C34", "package": "any"}, "不能超过 100 个字符")):
        response = client.submit("/casemgmt/pathways/new", data)
        assert response.status_code == 422 and message in text_of(response), message
    note = client.submit(f"/casemgmt/pathways/{pathway.id}/steps", step_form(FOLLOW_UP, note="长" * 201))
    assert note.status_code == 422 and "不能超过 200 个字符" in text_of(note)
    many = step_form(*([FOLLOW_UP] * 102))
    assert client.submit(f"/casemgmt/pathways/{pathway.id}/steps", many).status_code == 400
    assert client.submit(f"/casemgmt/pathways/{pathway.id}/toggle", {"active": "2"}).status_code == 400
    assert client.submit(f"/casemgmt/pathways/{pathway.id}/toggle", {}).status_code == 400
    assert (count(Pathway), count(PathwayVersion), count(PathwayStep), count(AuditLog)) == before
