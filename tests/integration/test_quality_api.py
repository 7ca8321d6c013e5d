"""HIS push of discharges and surgeries: token and scope (401/403), bad bodies (400/413), per-item problems (422,
nothing written), idempotent by record id, corrections audited, the summary kept; two overlapping pushes at once."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.core.audit import AuditLog
from portal.extensions import db
from portal.quality import summary
from portal.quality.indicators.definitions import raw_counts
from portal.quality.models import Discharge, QualityMonth, Surgery
from tests import quality_factories as qf
from tests.api_factories import make_token
from tests.factories import make_user

URL_D, URL_S = "/api/v1/quality/discharges", "/api/v1/quality/surgeries"


def auth(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def disc(rid: str, dept: str = "GS", **extra) -> dict:
    return {"record_id": rid, "mrn": f"ZY{rid}", "department_id": dept, "admission_date": "2026-11-01",
            "discharge_date": "2026-11-06", "discharge_mode": "1", **extra}


def op(rid: str, discharge: str, **extra) -> dict:
    return {"record_id": rid, "discharge_record_id": discharge, "mrn": f"ZY{discharge}", "department_id": "GS",
            "surgeon_id": "W001", "operation": "T-GAS", "urgency": "elective", "started_at": "2026-11-03 08:30",
            **extra}


@pytest.fixture
def his(tree):
    tree.surgery.code = "GS"
    db.session.commit()
    qf.make_catalogue()
    qf.make_surgeon(tree.surgery, "王刀", "W001")
    make_user("his_quality", ["ma_staff"], tree.hospital, name="HIS 接口")
    make_user("his_clinician", ["clinician"], tree.hospital, name="无权限")
    _, raw = make_token("his_quality", scopes=("quality.push",), name="HIS 质量数据")
    _, wrong_scope = make_token("his_quality", scopes=("departments",), name="科室同步")
    _, no_permission = make_token("his_clinician", scopes=("quality.push",), name="无权限账户")
    return {"raw": raw, "wrong_scope": wrong_scope, "no_permission": no_permission, "tree": tree}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_token_scope_and_permission_are_checked(client, his):
    assert client.post(URL_D, json={"items": [disc("A")]}).status_code == 401
    assert client.post(URL_D, json={"items": [disc("A")]}, headers=auth("pt_wrong")).status_code == 401
    denied = client.post(URL_D, json={"items": [disc("A")]}, headers=auth(his["wrong_scope"]))
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "SCOPE_DENIED"
    denied = client.post(URL_S, json={"items": []}, headers=auth(his["no_permission"]))
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "PERMISSION_DENIED"
    assert count(Discharge) == 0


def test_bad_bodies_and_bad_items_are_refused_whole_with_index_and_code(client, his):
    headers = auth(his["raw"])
    for body in (None, [], {"items": {}}, {"items": [], "extra": 1}, "text"):
        response = client.post(URL_D, json=body, headers=headers)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "BAD_REQUEST", body
    assert client.post(URL_D, data="{not json", headers={**headers, "Content-Type": "application/json"}
                       ).status_code == 400
    too_many = client.post(URL_D, json={"items": [disc(str(i)) for i in range(2001)]}, headers=headers)
    assert too_many.status_code == 413
    items = [disc("A"), disc("B", dept="NOWHERE"), disc("C", discharge_date="2026-02-30"), {"record_id": "D"},
             disc("A"), disc("E", colour="red"), "x", disc("F", admission_date="2026-12-01"),
             disc("G", discharge_mode={"a": 1}), disc("H", name="张三")]
    response = client.post(URL_D, json={"items": items}, headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    found = {(p["index"], p["code"]) for p in error["details"]}
    assert {(2, "UNKNOWN_DEPARTMENT"), (3, "BAD_VALUE"), (4, "REQUIRED"), (5, "DUPLICATE"), (6, "UNKNOWN_FIELD"),
            (7, "BAD_TYPE"), (8, "BAD_VALUE"), (9, "BAD_TYPE"), (10, "UNKNOWN_FIELD")} <= found
    assert "NOWHERE" in next(p["message"] for p in error["details"] if p["index"] == 2)
    assert count(Discharge) == 0
    bad_ops = [op("S1", "A", surgeon_id="NOBODY"), op("S2", "A", operation="00.0000"),
               op("S3", "A", started_at="yesterday"), op("S4", "A", grade=7),
               op("S5", "A", ended_at="2026-11-03 07:00")]
    response = client.post(URL_S, json={"items": bad_ops}, headers=headers)
    codes = [(p["index"], p["code"], p["field"]) for p in response.get_json()["error"]["details"]]
    assert (1, "UNKNOWN_STAFF", "surgeon_id") in codes and (2, "UNKNOWN_OPERATION", "operation") in codes
    assert (3, "BAD_VALUE", "started_at") in codes and (4, "BAD_VALUE", "grade") in codes
    assert (5, "BAD_VALUE", "ended_at") in codes
    assert count(Surgery) == 0


def test_pushes_are_idempotent_and_corrections_are_audited_and_counted(client, his):
    headers = auth(his["raw"])
    first = client.post(URL_D, json={"items": [disc("A"), disc("B")]}, headers=headers)
    assert first.status_code == 200 and first.get_json()["created"] == 2
    ops = client.post(URL_S, json={"items": [op("S1", "A", incision="I", healing="C", minimally_invasive=True),
                                             op("S2", "A", operation="51.2301")]}, headers=headers)
    assert ops.status_code == 200 and ops.get_json()["created"] == 2
    again = client.post(URL_D, json={"items": [disc("A"), disc("B")]}, headers=headers)
    assert again.get_json() | {"created_keys": [], "updated_keys": []} == {
        "created": 0, "updated": 0, "unchanged": 2, "created_keys": [], "updated_keys": []}
    corrected = client.post(URL_D, json={"items": [disc("B", discharge_mode="home_bed")]}, headers=headers)
    assert corrected.get_json()["updated_keys"] == ["B"]
    record = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "quality_discharge")
                               .order_by(AuditLog.id.desc()))
    assert "B" in str(record.changes) and "home_bed" in str(record.changes)
    assert count(Discharge) == 2 and count(Surgery) == 2
    counts = raw_counts(date(2026, 11, 1), date(2026, 11, 30))[his["tree"].surgery.id]
    assert (counts["discharges"], counts["is_surgical"], counts["has_grade4"], counts["has_class1_infected"]) == (
        1, 1, 1, 1)
    month = db.session.scalar(select(QualityMonth))
    assert (month.discharges, month.is_surgical, month.has_grade4, month.has_class1_infected) == (1, 1, 1, 1)
    surgery = db.session.scalar(select(Surgery).where(Surgery.record_id == "S2"))
    assert surgery.operation_code == "T-LC" and surgery.source == "api"


def test_two_overlapping_pushes_at_once_write_each_record_once(tmp_path, redis_server):
    from tests.conftest import workers
    from tests.factories import make_tree

    with workers(tmp_path, redis_server, "qualityrace", 1) as (app,):
        with app.app_context():
            tree = make_tree()
            tree.surgery.code = "GS"
            db.session.commit()
            make_user("his_quality", ["ma_staff"], tree.hospital, name="HIS 接口")
            _, raw = make_token("his_quality", scopes=("quality.push",))
        batches = [[disc(f"R{i}") for i in range(0, 30)], [disc(f"R{i}") for i in range(15, 45)]]
        barrier = threading.Barrier(2)
        answers: list[int] = []

        def push(items):
            client = app.test_client()
            barrier.wait()
            answers.append(client.post(URL_D, json={"items": items}, headers=auth(raw)).status_code)

        threads = [threading.Thread(target=push, args=(b,)) for b in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(code in (200, 503) for code in answers) and 200 in answers, answers
        if 503 in answers:  # SQLite busy: the caller retries, as Retry-After says
            assert app.test_client().post(URL_D, json={"items": batches[answers.index(503)]},
                                          headers=auth(raw)).status_code == 200
        with app.app_context():
            assert count(Discharge) == 45
            rows = {r.department_id: r.discharges for r in db.session.scalars(select(QualityMonth))}
            assert rows == {tree.surgery.id: 45}
            summary.rebuild()
            assert {r.department_id: r.discharges for r in db.session.scalars(select(QualityMonth))} == rows
            db.session.rollback()
