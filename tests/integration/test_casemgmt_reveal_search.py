"""A masked value never shows through a search, a sort order or an export.

A search by a full ID number or phone is a reveal: refused without casemgmt.reveal, audited with it.
Names are searched and sorted by their masked form only.
"""

from __future__ import annotations

import io
from datetime import date
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.auth import services as auth_services
from portal.core import crypto
from portal.core.audit import AuditLog
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user

ID = cm.resident_id(501)
PHONE = "13987654321"
FULL_WIDTH_ID = ID.translate(str.maketrans("0123456789X", "０１２３４５６７８９ｘ"))
REFUSAL = "需要“查看完整证件号与电话”权限"
PLAN_DAY = date(2026, 11, 24)


def reveals(entity: str = "patient") -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == "reveal",
                                                          AuditLog.entity_type == entity).order_by(AuditLog.id)))


def all_audit_text() -> str:
    return " ".join(f"{a.entity_label} {a.changes}" for a in db.session.scalars(select(AuditLog)))


@pytest.fixture
def s(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="周组长")
    patient = cm.make_patient("张三丰", id_number=ID, phone=PHONE, hospital_no="ZY2026003")
    cm.enrol(patient, case_manager=li, ward=ward, bed="12")
    return SimpleNamespace(ward=ward, li=li, patient=patient)


def cells_of(response) -> str:
    rows = load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)
    return " ".join(str(c) for row in rows for c in row if c is not None)


def listed(client, q: str, url: str = "/casemgmt/patients"):
    return client.htmx_get(url, query_string={"q": q})


@pytest.mark.parametrize("q", [ID, ID.lower(), FULL_WIDTH_ID, f"{ID[:6]} {ID[6:14]} {ID[14:]}", PHONE,
                               "139-8765-4321", "139 8765 4321"])
def test_a_case_manager_cannot_confirm_a_full_id_number_or_phone_by_searching(client, s, q):
    client.login("cm_li")  # sees the patient, masked: 1101**********xxxx, 139****4321
    before = len(reveals())
    refused = listed(client, q)
    assert refused.status_code == 403
    assert REFUSAL in text_of(refused) and "张*丰" not in text_of(refused)
    page = client.get("/casemgmt/patients", query_string={"q": q})
    assert page.status_code == 403 and REFUSAL in text_of(page) and "<html" in page.get_data(as_text=True)
    export = client.get("/casemgmt/patients/export", query_string={"q": q})
    assert export.status_code == 403 and not export.data.startswith(b"PK")
    assert len(reveals()) == before


def test_near_misses_confirm_nothing_either(client, s):
    """Identifier columns are never compared for a user who may not reveal, whatever the query's shape."""
    client.login("cm_li")
    for q in (ID[:17], ID + "1", ID[:10], PHONE[:10], PHONE[1:], f"{ID}-", "X" + ID[1:]):
        response = listed(client, q)
        assert response.status_code in (200, 403)
        assert "张*丰" not in text_of(response), q


def test_the_case_manager_still_finds_patients_by_what_the_screen_shows(client, s):
    client.login("cm_li")
    # ZY2026003: a hospital number, shown as typed, though it has the shape of a passport number.
    for q in ("ZY2026003", "张", "张*", "张*丰", "张三丰", "张四丰", "张三"):
        response = listed(client, q)
        assert response.status_code == 200 and "张*丰" in text_of(response), q
    for q in ("三丰", "张*三", "张三丰丰"):
        assert "张*丰" not in text_of(listed(client, q)), q
    assert reveals() == []


def test_a_name_typed_in_full_is_searched_as_its_masked_form(client, s):
    cm.enrol(cm.make_patient("张九丰", hospital_no="ZY9"), case_manager=s.li)
    client.login("cm_li")
    for q in ("张三丰", "张九丰", "张零丰"):  # the hidden character is never compared
        page = text_of(listed(client, q))
        assert "ZY2026003" in page and "ZY9" in page, q


def test_a_supervisor_may_search_a_full_number_and_each_find_is_audited(client, s):
    client.login("cm_boss")
    found = listed(client, FULL_WIDTH_ID)
    assert found.status_code == 200 and "张*丰" in text_of(found) and "已记入审计日志" in text_of(found)
    assert "张*丰" in text_of(listed(client, "139-8765-4321"))
    logged = reveals()
    assert [(a.entity_id, a.entity_label, a.changes["field"], a.changes["方式"]) for a in logged] == [
        (str(s.patient.id), "张*丰", "证件号码", "按完整号码搜索"),
        (str(s.patient.id), "张*丰", "电话", "按完整号码搜索")]
    assert all(a.user_name == "周组长" for a in logged)
    assert logged[0].changes["查询"] == ID[:4] + "*" * 10 + ID[-4:] and logged[1].changes["查询"] == "139****4321"
    assert ID not in all_audit_text() and PHONE not in all_audit_text()
    # What the screen shows anyway is no reveal.
    for q in ("ZY2026003", "张*丰", "张"):
        assert "张*丰" in text_of(listed(client, q))
    assert len(reveals()) == 2


def test_another_id_type_found_by_its_number_is_audited_too(client, s, tree):
    other = crypto.normalise("AB-1234")  # an "other" document: no usual shape, still an identifier
    from portal.casemgmt.patients import services as patients

    patient = patients.create_patient(name="李四光", id_type="other", id_number=other)
    db.session.commit()
    cm.enrol(patient, case_manager=s.li)
    client.login("cm_li")
    assert "李*光" not in text_of(listed(client, "AB-1234"))  # not compared: found by nothing
    client.submit("/logout")
    client.login("cm_boss")
    assert "李*光" in text_of(listed(client, "AB-1234"))
    assert [a.entity_id for a in reveals()] == [str(patient.id)]


def test_exports_carry_masked_values_and_mask_the_search_they_name(client, s):
    client.login("cm_boss")
    exported = client.get("/casemgmt/patients/export", query_string={"q": ID})
    assert exported.status_code == 200
    text = cells_of(exported)
    assert "张*丰" in text and ID[:4] + "*" * 10 + ID[-4:] in text and "139****4321" in text
    assert ID not in text and PHONE not in text and "张三丰" not in text
    export_audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "export")).all()
    assert export_audit and ID not in str(export_audit[-1].changes)
    assert [a.entity_id for a in reveals()] == [str(s.patient.id)]


def test_sorting_by_name_follows_the_masked_name_only(client, s):
    """Two names that mask alike sort by record order, whatever their hidden characters."""
    first = cm.make_patient("王甲", hospital_no="W1")  # 甲 sorts after 乙: a full-name sort would swap them
    second = cm.make_patient("王乙", hospital_no="W2")
    for patient in (first, second):
        cm.enrol(patient, case_manager=s.li)
    client.login("cm_li")

    def order(sort: str) -> list[str]:
        page = text_of(client.htmx_get("/casemgmt/patients", query_string={"sort": sort, "q": "王"}))
        return sorted(("W1", "W2"), key=page.index)

    assert order("name") == ["W1", "W2"]
    assert order("-name") == ["W2", "W1"]


def test_plan_items_follow_the_same_rule(client, s, tree):
    ref_hash = crypto.lookup_hash(ID)
    cm.make_plan(PLAN_DAY, {"patient_ref": ID[:4] + "*" * 10 + ID[-4:], "patient_ref_hash": ref_hash,
                            "patient_name": "孙小七", "external_id": "U1"},
                 {"patient_ref": "ZY2026003", "patient_id": s.patient.id, "patient_name": "张三丰",
                  "external_id": "A1"})
    make_user("issuer", ["plan_issuer"], tree.surgery)
    client.login("issuer")
    url = f"/casemgmt/plans/{PLAN_DAY}"
    refused = client.htmx_get(url, query_string={"q": ID})
    assert refused.status_code == 403 and REFUSAL in text_of(refused)
    assert client.get(f"{url}/export", query_string={"q": ID}).status_code == 403
    assert "U1" in text_of(client.htmx_get(url, query_string={"q": "孙*七"}))
    assert "U1" in text_of(client.htmx_get(url, query_string={"q": "孙大七"}))  # searched as 孙*七
    assert "U1" not in text_of(client.htmx_get(url, query_string={"q": "小七"}))
    assert "A1" in text_of(client.htmx_get(url, query_string={"q": "ZY2026003"}))  # shown as typed: no reveal
    assert reveals("plan_item") == []
    client.submit("/logout")
    auth_services.create_role(code="plan_reveal", name="计划与查看", description="", data_scope="all",
                              permissions=["casemgmt.plan", "casemgmt.reveal"])
    db.session.commit()
    make_user("issuer2", ["plan_reveal"], tree.surgery)
    client.login("issuer2")
    found = client.htmx_get(url, query_string={"q": ID})
    assert found.status_code == 200 and "U1" in text_of(found)
    exported = client.get(f"{url}/export", query_string={"q": ID})
    assert exported.status_code == 200 and "U1" in cells_of(exported) and ID not in cells_of(exported)
    assert [a.entity_label.split()[1] for a in reveals("plan_item")] == ["U1", "U1"]
    assert ID not in all_audit_text()
