"""The privilege endpoints for HIS: the check (401 / 403 / 404 / 400, never a 500; a denial raises one alert),
the paged copy of qualifications and privileges, and the emergency override report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.core.timeutil import local_today, utcnow
from portal.credentials.models import Privilege, PrivilegeAlert, PrivilegeOverride
from portal.extensions import db
from tests import factories
from tests.api_factories import make_token
from tests.privilege_factories import give_qualification, grant, make_tech


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def his(session, tree, app):
    factories.make_user("his_priv", ["ma_staff"], tree.hospital, name="HIS 接口")
    factories.make_user("his_noperm", ["clinician"], tree.hospital, name="无权限账户")
    _, raw = make_token("his_priv", scopes=["privileges.check", "privileges.read", "privileges.override"])
    _, plans_only = make_token("his_priv", scopes=["plans"], name="只有计划")
    _, no_perm = make_token("his_noperm", scopes=["privileges.check"], name="账户无权限")
    surgeon = factories.make_staff("接口医生", tree.surgery, employee_no="H7001")
    make_tech("API-3", 3, national="51.2301")
    make_tech("API-4", 4)
    record = grant(surgeon, grade=3)
    from portal.core.redis_conn import get_redis
    from portal.credentials.privileges import services

    get_redis().delete(services._alert_key())
    app.extensions.pop("privilege_alerts_seen", None)
    return {"token": raw, "plans": plans_only, "no_perm": no_perm, "surgeon": surgeon, "record": record}


def url(staff="H7001", code="API-3", right="perform", day=None):
    day = day or local_today().isoformat()
    return f"/api/v1/privileges/check?staff={staff}&code={code}&right={right}&date={day}"


def test_the_check_answers_allowed_with_the_privilege(client, his):
    answer = client.get(url(code="51.2301"), headers=bearer(his["token"]))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["allowed"] is True and body["privilege_id"] == his["record"].id and body["code"] == "API-3"
    assert body["staff"] == "H7001" and body["right"] == "perform" and "三级手术授权" in body["reason"]


def test_a_denial_names_the_missing_item_and_raises_one_alert(client, his):
    for right in ("perform", "order", "perform"):
        answer = client.get(url(code="API-4", right=right), headers=bearer(his["token"]))
        assert answer.status_code == 200 and answer.get_json()["allowed"] is False
    assert answer.get_json()["missing"] == {"type": "privilege", "kind": "grade", "grade": 4, "category": "surgery",
                                            "right": "perform"}
    from portal.credentials.privileges import services

    assert services.drain_alerts() == 1
    assert db.session.scalar(select(func.count()).select_from(PrivilegeAlert)) == 1


@pytest.mark.parametrize(("target", "headers", "status", "code"), [
    (url(), {}, 401, "AUTH_MISSING"),
    (url(), bearer("nonsense"), 401, "AUTH_INVALID"),
    (url(), "plans", 403, "SCOPE_DENIED"),
    (url(), "no_perm", 403, "PERMISSION_DENIED"),
    (url(staff="NOBODY"), "token", 404, "NOT_FOUND_STAFF"),
    (url(code="00.0000"), "token", 404, "NOT_FOUND_CODE"),
    (url(day="2026-02-30"), "token", 400, "BAD_DATE"),
    (url(day="20261201"), "token", 400, "BAD_DATE"),
    (url(right="cut"), "token", 400, "BAD_PARAM"),
    ("/api/v1/privileges/check?staff=H7001", "token", 400, "BAD_PARAM"),
    (url(code="X" * 300), "token", 400, "BAD_PARAM"),
])
def test_bad_calls_get_their_error_code_never_a_500(client, his, target, headers, status, code):
    if isinstance(headers, str):
        headers = bearer(his[headers])
    answer = client.get(target, headers=headers)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer.get_json()["error"]["message"])


def test_the_paged_pull_gives_every_record_once_in_update_order(client, his, tree):
    surgeon = his["surgeon"]
    give_qualification(surgeon, "PRACTICE_LICENSE")
    grant(surgeon, tech="API-4")
    other = factories.make_staff("另一医生", tree.surgery)
    for _ in range(3):
        grant(other, grade=2)
    seen, token, pages = [], None, 0
    while True:
        path = "/api/v1/privileges?limit=2" + (f"&page_token={token}" if token else "")
        answer = client.get(path, headers=bearer(his["token"]))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        body = answer.get_json()
        seen += [(item["type"], item["id"]) for item in body["items"]]
        pages += 1
        token = body["next_page_token"]
        if not token:
            break
        assert pages < 20
    assert len(seen) == len(set(seen))
    types = {t for t, _ in seen}
    assert types == {"qualification", "privilege"}
    assert ("privilege", his["record"].id) in seen
    # An adjusted record says from which day its successor counts (it counted before it).
    old = grant(other, grade=3)
    new = grant(other, grade=4)
    db.session.execute(update(Privilege).where(Privilege.id == old.id)
                       .values(status="superseded", ended_on=local_today(), updated_at=utcnow()))
    db.session.execute(update(Privilege).where(Privilege.id == new.id).values(supersedes_id=old.id))
    db.session.commit()
    items = {item["id"]: item for item in client.get("/api/v1/privileges?limit=500", headers=bearer(his["token"]))
             .get_json()["items"] if item["type"] == "privilege"}
    assert items[old.id]["state"] == "superseded" and items[old.id]["ended_on"] == local_today().isoformat()
    assert items[new.id]["supersedes_id"] == old.id and items[new.id]["ended_on"] is None
    # updated_since leaves out what did not change since
    later = (local_today() + timedelta(days=1)).isoformat() + "T00:00:00+08:00"
    empty = client.get(f"/api/v1/privileges?updated_since={later.replace('+', '%2B')}", headers=bearer(his["token"]))
    assert empty.status_code == 200 and empty.get_json()["items"] == []
    for bad, code in (("page_token=%%%", "BAD_PARAM"), ("limit=0", "BAD_PARAM"), ("updated_since=yesterday",
                                                                                   "BAD_DATE")):
        answer = client.get(f"/api/v1/privileges?{bad}", headers=bearer(his["token"]))
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == code
    assert client.get("/api/v1/privileges", headers=bearer(his["plans"])).status_code == 403


def test_his_reports_an_override_once_by_its_id(client, his):
    body = {"staff": "H7001", "code": "API-4", "performed_at": "2026-11-30T23:10:00+08:00", "patient": "ZY9",
            "reason": "急诊", "id": "HIS-77"}
    first = client.post("/api/v1/privileges/overrides", json=body, headers=bearer(his["token"]))
    assert first.status_code == 201, first.get_data(as_text=True)
    again = client.post("/api/v1/privileges/overrides", json=body, headers=bearer(his["token"]))
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert db.session.scalar(select(func.count()).select_from(PrivilegeOverride)) == 1
    for bad, status, code in (({**body, "staff": "NOBODY"}, 404, "NOT_FOUND_STAFF"),
                              ({**body, "code": "NOPE"}, 404, "NOT_FOUND_CODE"),
                              ({**body, "performed_at": "昨天"}, 400, "BAD_DATE"),
                              ({**body, "extra": "x"}, 400, "BAD_REQUEST"),
                              ({"staff": "H7001"}, 422, "VALIDATION")):
        answer = client.post("/api/v1/privileges/overrides", json=bad, headers=bearer(his["token"]))
        assert answer.status_code == status and answer.get_json()["error"]["code"] == code, bad
    assert client.post("/api/v1/privileges/overrides", data="x", headers=bearer(his["token"])).status_code == 400


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/privileges/check", "/api/v1/privileges", "/api/v1/privileges/overrides"} <= set(paths)
