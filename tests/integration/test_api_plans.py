"""The plan API for HIS: bearer tokens (401/403), idempotent submission, JSON errors, late flag, audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.api import tokens
from portal.api.models import ApiToken
from portal.auth.models import User
from portal.casemgmt.models import Plan, PlanItem
from portal.casemgmt.plans import clock as plan_clock
from portal.core.audit import AuditLog
from portal.extensions import db
from tests import cm_factories as cm
from tests.api_factories import make_token
from tests.conftest import text_of
from tests.factories import make_user

DAY = "2026-11-24"
BEFORE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 16:00 Beijing
AFTER = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # 17:30 Beijing
URL = f"/api/v1/plans/{DAY}"


@pytest.fixture
def clock(monkeypatch):
    state = {"now": BEFORE}
    monkeypatch.setattr(plan_clock, "utcnow", lambda: state["now"])
    return state


@pytest.fixture
def his(tree, clock):
    """A HIS token acting as a plan issuer; a ward and two patients."""
    issuer = make_user("his_user", ["plan_issuer"], tree.surgery, name="HIS 接口")
    cm.make_ward("胸外病区", tree.surgery)
    cm.make_patient("张三丰", hospital_no="ZY001")
    cm.make_patient("王五", hospital_no="ZY002")
    token, raw = make_token("his_user", name="HIS 次日计划")
    return {"user_id": issuer.id, "token_id": token.id, "raw": raw}


def auth(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def body(*items: dict, replace: bool = False) -> dict:
    return {"items": list(items), "replace": replace}


def entry(ident: str, patient: str = "ZY001", **extra) -> dict:
    return {"id": ident, "patient": patient, "name": "张三丰", "service": "accompany_admission",
            "service_item": "办理入院", "ward": "胸外病区", "bed": "12", "time_slot": "morning",
            "special_needs": ["wheelchair"], **extra}


def post(client, raw, payload, url=URL):
    return client.post(url, json=payload, headers=auth(raw))


def test_token_is_required_and_must_be_valid_and_active(client, his):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer pt_wrong"}, {"Authorization": "Bearer " + "x" * 500}):
        response = client.post(URL, json=body(entry("A1")), headers=headers)
        assert response.status_code == 401 and response.is_json
        error = response.get_json()["error"]
        assert "令牌" in error["message"] and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert error["code"] in ("AUTH_MISSING", "AUTH_INVALID")
    tokens.revoke_token(db.session.get(ApiToken, his["token_id"]))
    db.session.commit()
    revoked = post(client, his["raw"], body(entry("A1")))
    assert revoked.status_code == 401 and "已停用" in revoked.get_json()["error"]["message"]
    assert revoked.get_json()["error"]["code"] == "AUTH_INVALID"
    assert db.session.scalar(select(func.count()).select_from(Plan)) == 0


def test_a_deactivated_user_or_a_user_without_the_permission(client, tree, his):
    make_user("nurse", ["case_manager"], tree.surgery)
    _, raw = make_token("nurse", name="错误的账户")
    forbidden = post(client, raw, body(entry("A1")))
    assert forbidden.status_code == 403 and "casemgmt.plan" in forbidden.get_json()["error"]["message"]
    assert forbidden.get_json()["error"]["code"] == "PERMISSION_DENIED"
    assert client.get(URL, headers=auth(raw)).status_code == 403
    user = db.session.get(User, his["user_id"])
    user.is_active_flag = False
    db.session.commit()
    assert post(client, his["raw"], body(entry("A1"))).status_code == 401


def test_submission_is_idempotent_and_counts(client, his):
    payload = body(entry("A1"), entry("A2", "ZY002", name="王五", service="电话随访", ward="", time_slot="any"),
                   entry("U1", "ZY404", name="孙七"))
    first = post(client, his["raw"], payload)
    assert first.status_code == 200, first.get_data(as_text=True)
    data = first.get_json()
    assert (data["created"], data["updated"], data["unchanged"], data["cancelled"]) == (3, 0, 0, 0)
    assert data["late"] is False and data["plan_is_late"] is False and data["revision"] == 1
    assert data["unknown_patients"] == [{"id": "U1", "patient": "ZY404", "name": "孙*"}]
    second = post(client, his["raw"], payload).get_json()
    assert (second["created"], second["updated"], second["unchanged"], second["revision"]) == (0, 0, 3, 1)
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 3
    changed = post(client, his["raw"], body(entry("A1", bed="15"), replace=True)).get_json()
    assert (changed["updated"], changed["cancelled"], changed["revision"]) == (1, 2, 2)
    read = client.get(URL, headers=auth(his["raw"]))
    assert read.status_code == 200
    state = read.get_json()
    assert state["revision"] == 2 and state["cutoff"] == "2026-11-23T17:00:00+08:00"
    items = {i["id"]: i for i in state["items"]}
    assert items["A1"]["bed"] == "15" and items["A1"]["name"] == "张*丰" and items["A1"]["ward_name"] == "胸外病区"
    assert items["A2"]["cancelled"] and items["U1"]["patient_known"] is False
    assert items["A1"]["special_needs"] == ["wheelchair"] and items["A1"]["task_status"] is None


def test_late_submission_is_flagged(client, his, clock):
    post(client, his["raw"], body(entry("A1")))
    clock["now"] = AFTER
    data = post(client, his["raw"], body(entry("A1"), entry("A2", "ZY002"))).get_json()
    assert data["late"] is True and data["plan_is_late"] is True and data["created"] == 1
    late = {i.external_id: i.is_late for i in db.session.scalars(select(PlanItem))}
    assert late == {"A1": False, "A2": True}


@pytest.mark.parametrize("date_text", ["2026-13-40", "20261124", "tomorrow", "2026-11-24x", "2026-02-30"])
def test_malformed_date_is_400_json(client, his, date_text):
    response = post(client, his["raw"], body(entry("A1")), url=f"/api/v1/plans/{date_text}")
    assert response.status_code == 400 and response.is_json
    assert "日期" in response.get_json()["error"]["message"]
    assert response.get_json()["error"]["code"] == "BAD_DATE"


def test_bad_bodies_are_400_json_in_chinese(client, his):
    raw = his["raw"]
    cases = [
        client.post(URL, data="items=1", headers=auth(raw), content_type="application/x-www-form-urlencoded"),
        client.post(URL, data="{not json", headers=auth(raw), content_type="application/json"),
        client.post(URL, data=json.dumps([1, 2]), headers=auth(raw), content_type="application/json"),
        post(client, raw, {"items": "A1"}),
        post(client, raw, {"items": [], "replace": "yes"}),
        post(client, raw, {"items": [], "extra": 1}),
        post(client, raw, body("not an object")),
        post(client, raw, body(entry("A1", special_needs="wheelchair"))),
        post(client, raw, body(entry("A1", bed=["12"]))),
        post(client, raw, body({**entry("A1"), "id": None})),
        post(client, raw, body({**entry("A1"), "colour": "red"})),
        post(client, raw, body(entry("A1", name=5))),
    ]
    for response in cases:
        assert response.status_code == 400, response.get_data(as_text=True)
        error = response.get_json()["error"]
        assert error["code"] == "BAD_REQUEST", error
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 0


def test_rule_violations_are_422_with_the_problems(client, his):
    response = post(client, his["raw"], body(entry("A1"), entry("A1", "ZY002"),
                                             entry("A3", "ZY002", special_needs=["jetpack"], note="长" * 501)))
    assert response.status_code == 422
    data = response.get_json()
    assert "没有写入任何数据" in data["error"]["message"] and data["error"]["code"] == "VALIDATION"
    fields = [(p["index"], p["id"], p["field"]) for p in data["error"]["details"]]
    assert (2, "A1", "id") in fields and (3, "A3", "special_needs") in fields and (3, "A3", "note") in fields
    past = post(client, his["raw"], body(entry("A1")), url="/api/v1/plans/2026-11-23")
    assert past.status_code == 422 and "明天" in past.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 0


def test_audit_rows_name_the_tokens_user_and_last_use_is_recorded(client, his, monkeypatch):
    post(client, his["raw"], body(entry("A1")))
    rows = db.session.execute(select(AuditLog.user_id, AuditLog.user_name, AuditLog.user_agent).where(
        AuditLog.entity_type.in_(("plan", "plan_item")))).all()
    assert rows and {r.user_id for r in rows} == {his["user_id"]}
    assert {r.user_name for r in rows} == {"HIS 接口"} and all(r.user_agent.startswith("接口令牌 pt_") for r in rows)
    assert db.session.scalar(select(PlanItem.created_by_id)) == his["user_id"]
    first_use = db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == his["token_id"]))
    assert first_use is not None
    # Within the minute the use is not written again; a minute later it is.
    later = first_use + timedelta(seconds=30)
    monkeypatch.setattr(tokens, "utcnow", lambda: later)
    client.get(URL, headers=auth(his["raw"]))
    assert db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == his["token_id"])) == first_use
    later = first_use + timedelta(seconds=61)
    client.get(URL, headers=auth(his["raw"]))
    assert db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == his["token_id"])) == later


def test_errors_under_api_are_json_and_other_pages_are_not(client, his):
    missing = client.get("/api/v1/nothing-here", headers=auth(his["raw"]))
    assert missing.status_code == 404 and missing.is_json and "不存在" in missing.get_json()["error"]["message"]
    assert missing.get_json()["error"]["code"] == "NOT_FOUND"
    wrong = client.delete(URL, headers=auth(his["raw"]))
    assert wrong.status_code == 405 and wrong.is_json and "GET" in wrong.headers["Allow"]
    no_plan = client.get("/api/v1/plans/2026-12-01", headers=auth(his["raw"]))
    assert no_plan.status_code == 404 and "没有服务计划" in no_plan.get_json()["error"]["message"]
    assert no_plan.get_json()["error"]["code"] == "NOT_FOUND_PLAN"
    big = client.post(URL, data=b"{" + b" " * (3 * 1024 * 1024) + b"}", headers=auth(his["raw"]),
                      content_type="application/json")
    assert big.status_code == 413 and big.is_json and big.get_json()["error"]["code"] == "TOO_LARGE"
    page = client.get("/no-such-page")
    assert page.status_code == 404 and not page.is_json and "页面不存在" in text_of(page)
