"""HR / HIS push departments and staff: idempotent upserts, leavers deactivated (with their accounts), all or
nothing per batch with every problem listed, one summary audit record per batch."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.auth.models import Department, Staff, User
from portal.core.audit import AuditLog
from portal.extensions import db
from tests.api_factories import make_token
from tests.factories import make_staff, make_user

DEPTS = [
    {"code": "H01", "name": "示范医院", "kind": "hospital"},
    {"code": "XNK", "name": "心血管内科", "kind": "department", "parent": "NQ"},  # parent later in the batch
    {"code": "NQ", "name": "内科片区", "kind": "division", "parent": "H01"},
    {"code": "XNK-1", "name": "心内一病区", "kind": "ward", "parent": "XNK", "sort_order": 2},
]


@pytest.fixture
def hr(tree):
    make_user("hr_sync", ["sysadmin"], tree.hospital, name="人事系统")
    _, raw = make_token("hr_sync", scopes=["departments", "staff"], code="HR")
    return {"Authorization": f"Bearer {raw}"}


def push(client, hr, what: str, items):
    return client.post(f"/api/v1/{what}", json={"items": items}, headers=hr)


def test_departments_are_created_once_and_then_unchanged_or_updated(client, hr):
    first = push(client, hr, "departments", DEPTS)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["created"] == 4 and first.get_json()["created_keys"][0] == "H01"
    ward = db.session.scalar(select(Department).where(Department.code == "XNK-1"))
    parent = db.session.scalar(select(Department).where(Department.code == "XNK"))
    assert ward.parent_id == parent.id and ward.kind == "ward" and ward.sort_order == 2
    again = push(client, hr, "departments", DEPTS).get_json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 4)
    renamed = push(client, hr, "departments", [{**DEPTS[1], "name": "心内科"}]).get_json()
    assert renamed["updated_keys"] == ["XNK"]
    assert db.session.scalar(select(Department.name).where(Department.code == "XNK")) == "心内科"
    summaries = db.session.scalars(select(AuditLog.entity_label).where(AuditLog.action == "sync",
                                                                AuditLog.entity_type == "department")).all()
    assert len(summaries) == 3 and "新增 4" in summaries[0]


def test_a_bad_department_batch_lists_every_problem_and_writes_nothing(client, hr):
    before = db.session.scalar(select(func.count()).select_from(Department))
    response = push(client, hr, "departments", [
        {"code": "A1", "name": "", "kind": "department", "parent": "NOPE"},
        {"code": "A2", "name": "科", "kind": "clinic"},
        {"code": "A2", "name": "科", "kind": "ward"},
        {"code": "A3", "name": "科", "kind": "ward", "colour": "red"},
        "not an object",
    ])
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION" and "没有写入任何数据" in error["message"]
    found = {(d["index"], d["code"]) for d in error["details"]}
    assert {(1, "REQUIRED"), (1, "UNKNOWN_PARENT"), (2, "BAD_KIND"), (3, "DUPLICATE"), (4, "UNKNOWN_FIELD"),
            (5, "BAD_TYPE")} <= found
    # A rule the organisation service enforces: a ward must hang under a department.
    rule = push(client, hr, "departments", [{"code": "H9", "name": "医院", "kind": "hospital"},
                                            {"code": "W9", "name": "病区", "kind": "ward", "parent": "H9"}])
    assert rule.status_code == 422
    detail = rule.get_json()["error"]["details"][0]
    assert detail["code"] == "RULE" and detail["index"] == 2 and "病区的上级必须是科室" in detail["message"]
    assert db.session.scalar(select(func.count()).select_from(Department)) == before


def test_staff_are_upserted_by_employee_number_and_leavers_deactivated_with_their_account(client, hr, tree):
    push(client, hr, "departments", DEPTS)
    people = [{"employee_no": "a1001", "name": "张三", "department": "XNK", "title": "主治医师"},
              {"employee_no": "A1002", "name": "李四", "department": "xnk-1", "position": "护士长"}]
    first = push(client, hr, "staff", people)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["created_keys"] == ["A1001", "A1002"]
    zhang = db.session.scalar(select(Staff).where(Staff.employee_no == "A1001"))
    assert zhang.name == "张三" and zhang.title == "主治医师" and zhang.department.code == "XNK"
    again = push(client, hr, "staff", people).get_json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    # An existing member of staff with a portal account leaves.
    doctor = make_user("doc_wang", ["clinician"], tree.cardiology, name="王医生")
    number = doctor.staff.employee_no
    moved = push(client, hr, "staff", [{"employee_no": "A1001", "name": "张三", "department": "XNK-1",
                                        "title": "副主任医师"},
                                       {"employee_no": number, "name": "王医生", "department": "XNK",
                                        "active": False}]).get_json()
    assert moved["updated_keys"] == ["A1001"] and moved["deactivated_keys"] == [number.upper()]
    gone = db.session.scalar(select(Staff).where(Staff.employee_no == number))
    assert gone is not None and gone.is_active is False  # kept, never deleted
    assert db.session.scalar(select(User.is_active_flag).where(User.login_name == "doc_wang")) is False
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "deactivate",
                                                       AuditLog.entity_type == "user")) is not None
    summary = db.session.scalars(select(AuditLog).where(AuditLog.action == "sync", AuditLog.entity_type == "staff")
                                 .order_by(AuditLog.id)).all()
    assert len(summary) == 3 and summary[-1].changes["deactivated"] == [number.upper()]
    assert summary[-1].user_name == "人事系统"


def test_a_bad_staff_batch_writes_nothing(client, hr, tree):
    make_staff("已有", tree.cardiology, employee_no="B0001")
    before = db.session.scalar(select(func.count()).select_from(Staff))
    response = push(client, hr, "staff", [
        {"employee_no": "B0001", "name": "改名", "department": tree.cardiology.code},
        {"employee_no": "B0002", "name": "新人", "department": "NO-SUCH"},
        {"employee_no": "B0003", "name": "新人", "department": tree.cardiology.code, "active": "no"},
        {"employee_no": "b0002", "name": "重复", "department": tree.cardiology.code},
        {"employee_no": "X" * 40, "name": "长", "department": tree.cardiology.code},
    ])
    assert response.status_code == 422
    codes = {(d["index"], d["code"]) for d in response.get_json()["error"]["details"]}
    assert codes == {(2, "UNKNOWN_DEPARTMENT"), (3, "BAD_TYPE"), (4, "DUPLICATE"), (5, "TOO_LONG")}
    assert db.session.scalar(select(func.count()).select_from(Staff)) == before
    assert db.session.scalar(select(Staff.name).where(Staff.employee_no == "B0001")) == "已有"


def test_push_needs_its_scope_and_its_permission(client, tree):
    make_user("his_plans", ["plan_issuer"], tree.hospital)
    _, plans_only = make_token("his_plans", scopes=["plans"])
    answer = client.post("/api/v1/staff", json={"items": []}, headers={"Authorization": f"Bearer {plans_only}"})
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "SCOPE_DENIED"
    _, no_permission = make_token("his_plans", scopes=["staff"], code="HIS2")
    answer = client.post("/api/v1/staff", json={"items": []}, headers={"Authorization": f"Bearer {no_permission}"})
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "PERMISSION_DENIED"


def test_bad_bodies_are_400_with_a_chinese_message_and_change_nothing(client, hr):
    before = db.session.scalar(select(func.count()).select_from(Staff))
    cases = [({"json": None}, "Content-Type"), ({"json": []}, "JSON 对象"), ({"json": {"items": {}}}, "items"),
             ({"json": {"items": [], "extra": 1}}, "不认识的字段：extra"),
             ({"data": "{not json", "content_type": "application/json"}, "不是有效的 JSON"),
             ({"data": "items=1"}, "Content-Type")]
    for kwargs, message in cases:
        response = client.post("/api/v1/staff", headers=hr, **kwargs)
        error = response.get_json()["error"]
        assert response.status_code == 400 and error["code"] == "BAD_REQUEST", kwargs
        assert message in error["message"], (kwargs, error["message"])
    assert db.session.scalar(select(func.count()).select_from(Staff)) == before


def test_too_many_items_is_413(client, hr):
    response = client.post("/api/v1/staff", json={"items": [{}] * 5001}, headers=hr)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "TOO_LARGE"


def test_a_simultaneous_duplicate_write_is_a_409_conflict_not_a_500(client, hr, monkeypatch):
    import sqlite3

    from sqlalchemy.exc import IntegrityError

    from portal.auth import sync

    class UniqueViolation(Exception):
        sqlstate = "23505"

    def racing(items):
        original = sqlite3.IntegrityError("UNIQUE constraint failed: staff.employee_no") \
            if db.engine.dialect.name == "sqlite" else UniqueViolation("duplicate key")
        raise IntegrityError("INSERT INTO staff", {}, original)

    monkeypatch.setattr(sync, "upsert_staff", racing)
    response = push(client, hr, "staff", [])
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "CONFLICT"
