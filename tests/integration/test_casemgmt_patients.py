"""Patients: masking and reveal, registration and enrolment rules, scoping, the patient view, handover notes,
caseloads, ward coverage, the 患者入组 import, and bad input."""

from __future__ import annotations

import hashlib
import io
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.auth.models import User
from portal.casemgmt.models import CareTask, Enrolment, HandoverNote, LedgerEntry, Patient, WardCoverage
from portal.casemgmt.tasks import services as tasks
from portal.core import audit, crypto
from portal.core.audit import AuditLog
from portal.core.masking import _AUDITED
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.io import imports
from portal.notify.models import Notification
from tests import cm_factories as cm
from tests.conftest import PortalClient, build_app, rolled_back, text_of, xlsx_bytes
from tests.factories import make_staff, make_user
from tests.sqlcount import statements

ID = cm.resident_id(501)
PHONE = "13987654321"
ID_MASKED = ID[:4] + "*" * 10 + ID[-4:]
PHONE_MASKED = "139****4321"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def audits(action: str, entity: str) -> list[AuditLog]:
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.entity_type == entity)
                              .order_by(AuditLog.id)).all()


@pytest.fixture
def s(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    other = cm.make_ward("骨科病区", tree.orthopaedics)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.orthopaedics, "王个管")
    boss = make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="周组长")
    cm.cover(other, wang)
    return SimpleNamespace(tree=tree, ward=ward, other=other, li=li, wang=wang, boss=boss)


def managed_patient(s, **extra) -> Patient:
    patient = cm.make_patient("张三丰", id_number=ID, phone=PHONE, hospital_no="Z1001")
    cm.enrol(patient, case_manager=s.li, ward=s.ward, bed="12", **extra)
    return patient


def new_patient_form(**changes) -> dict:
    data = {"name": "李四光", "id_type": "resident", "id_number": cm.resident_id(777), "phone": "13700001111",
            "hospital_no": "Z2002", "gender": "U", "birth_date": "", "notes": "",
            "enrol_now": "1", "enrol-icd10_code": "C34.1", "enrol-disease_name": "肺恶性肿瘤", "enrol-tnm_stage": "",
            "enrol-package": "basic", "enrol-package_months": "", "enrol-start_date": "2026-11-02",
            "enrol-ward_id": "", "enrol-bed": "", "enrol-case_manager_id": "", "enrol-admission_date": "",
            "enrol-surgery_date": "", "enrol-discharge_date": ""}
    data.update(changes)
    return data


def enrol_form(**changes) -> dict:
    data = {"icd10_code": "C34.1", "disease_name": "肺恶性肿瘤", "tnm_stage": "", "package": "basic",
            "package_months": "", "start_date": "2026-11-02", "ward_id": "", "bed": "", "case_manager_id": "",
            "admission_date": "", "surgery_date": "", "discharge_date": ""}
    data.update(changes)
    return data


def workbook_text(content: bytes) -> str:
    sheet = load_workbook(io.BytesIO(content)).active
    return " ".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None)


# --- masking, reveal ---------------------------------------------------------------------------------------------

def test_list_detail_edit_and_export_show_only_masked_identifiers(client, s):
    patient = managed_patient(s)
    client.login("cm_boss")
    pages = [client.get("/casemgmt/patients"), client.htmx_get("/casemgmt/patients?status=active"),
             client.get(f"/casemgmt/patients/{patient.id}"), client.get(f"/casemgmt/patients/{patient.id}/edit")]
    for page in pages:
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert ID not in html and PHONE not in html and ID.lower() not in html
        assert ID_MASKED in html and PHONE_MASKED in html and "张*丰" in html
    assert "<table" in pages[1].get_data(as_text=True) and "<html" not in pages[1].get_data(as_text=True)
    export = client.get("/casemgmt/patients/export?status=active")
    assert export.status_code == 200
    cells = workbook_text(export.data)
    assert ID not in cells and PHONE not in cells and "张三丰" not in cells
    assert ID_MASKED in cells and PHONE_MASKED in cells and "张*丰" in cells and "胸外病区" in cells
    assert audits("export", "patient")


def test_reveal_needs_the_permission_and_every_reveal_is_audited(client, s):
    patient = managed_patient(s)
    client.login("cm_li")  # the patient's own case manager, but without casemgmt.reveal
    assert "查看完整" not in text_of(client.get(f"/casemgmt/patients/{patient.id}"))
    refused = client.submit(f"/casemgmt/patients/{patient.id}/reveal", {"field": "id_number"}, htmx=True)
    assert refused.status_code == 403 and ID not in refused.get_data(as_text=True)
    assert audits("reveal", "patient") == []
    client.submit("/logout")
    client.login("cm_boss")
    shown = client.submit(f"/casemgmt/patients/{patient.id}/reveal", {"field": "id_number"}, htmx=True)
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and ID in html and 'id="reveal-id_number"' in html and "<html" not in html
    phone = client.submit(f"/casemgmt/patients/{patient.id}/reveal", {"field": "phone"})  # without htmx: the page
    assert phone.status_code == 200 and PHONE in phone.get_data(as_text=True) and ID not in phone.get_data(as_text=True)
    logged = audits("reveal", "patient")
    assert [(a.entity_id, a.changes["field"], a.user_name) for a in logged] == [
        (str(patient.id), "证件号码", "周组长"), (str(patient.id), "电话", "周组长")]
    assert all(ID not in str(a.changes) and PHONE not in str(a.changes) for a in logged)
    bad = client.submit(f"/casemgmt/patients/{patient.id}/reveal", {"field": "id_number_enc"})
    assert bad.status_code == 400 and "只能查看证件号码或电话" in text_of(bad)
    assert client.submit("/casemgmt/patients/999999/reveal", {"field": "phone"}).status_code == 404
    assert len(audits("reveal", "patient")) == 2


def test_search_by_hospital_number_full_id_or_phone_and_name_prefix(client, s):
    patient = managed_patient(s)
    cm.enrol(cm.make_patient("王五", phone="13600000000"), case_manager=s.li)
    client.login("cm_boss")

    def found(q):
        return "张*丰" in text_of(client.htmx_get("/casemgmt/patients", query_string={"q": q}))

    full_width = ID.translate(str.maketrans("0123456789X", "０１２３４５６７８９ｘ"))
    assert all(found(q) for q in ("Z1001", ID, ID.lower(), full_width, PHONE, "139-8765-4321", "张", "张三"))
    assert not any(found(q) for q in ("Z100", ID[:10], PHONE[:7], "三丰", "%", "_"))
    assert "王*" in text_of(client.htmx_get("/casemgmt/patients?q=13600000000"))
    assert patient.id_number_hash == crypto.lookup_hash(ID.lower())


# --- registration and enrolment rules ---------------------------------------------------------------------------

def test_register_and_enrol_in_one_form_fills_birth_date_and_gender(client, s):
    client.login("cm_li")
    assert client.get("/casemgmt/patients/new").status_code == 200
    response = client.submit("/casemgmt/patients/new", new_patient_form(**{
        "enrol-case_manager_id": str(s.li.id), "enrol-ward_id": str(s.ward.id), "enrol-bed": "3"}))
    assert response.status_code == 303, text_of(response)[-400:]
    patient = db.session.scalar(select(Patient).where(Patient.name == "李四光"))
    assert patient.birth_date == date(1965, 3, 12) and patient.gender in ("M", "F")
    assert crypto.decrypt(patient.id_number_enc) == cm.resident_id(777) and patient.phone_masked == "137****1111"
    enrolment = patient.active_enrolment
    assert (enrolment.case_manager_id, enrolment.ward_id, enrolment.bed) == (s.li.id, s.ward.id, "3")
    assert response.headers["Location"].endswith(f"/casemgmt/patients/{patient.id}")
    assert client.get(f"/casemgmt/patients/{patient.id}").status_code == 200


def test_registered_without_enrolment_stays_visible_to_its_registrar(client, s):
    client.login("cm_li")
    response = client.submit("/casemgmt/patients/new", new_patient_form(enrol_now="0"))
    assert response.status_code == 303
    patient = db.session.scalar(select(Patient).where(Patient.name == "李四光"))
    assert patient.enrolments == []
    assert "未入组" in text_of(client.get(f"/casemgmt/patients/{patient.id}"))
    assert "李*光" in text_of(client.get("/casemgmt/patients?status=none"))
    client.submit("/logout")
    client.login("cm_wang")
    assert client.get(f"/casemgmt/patients/{patient.id}").status_code == 404


def test_identity_triple_is_unique_on_create_and_on_edit(client, s):
    first = managed_patient(s)
    other = cm.make_patient("张三丰", id_number=cm.resident_id(502), phone=None)
    client.login("cm_boss")
    before = count(Patient)
    duplicate = client.submit("/casemgmt/patients/new", new_patient_form(name="张三丰", id_number=ID.lower(),
                                                                          hospital_no=""))
    assert duplicate.status_code in (409, 422) and "该患者已建档" in text_of(duplicate)
    assert f"/casemgmt/patients/{first.id}" in duplicate.get_data(as_text=True)  # a link to the existing record
    assert count(Patient) == before
    # The same number with another name is another person (the triple differs).
    assert client.submit("/casemgmt/patients/new", new_patient_form(name="张三", id_number=ID, hospital_no="",
                                                                      enrol_now="0")).status_code == 303
    clash = client.submit(f"/casemgmt/patients/{other.id}/edit", {"id_number": ID, "id_type": "resident",
                                                                   "gender": "U", "name": ""})
    assert clash.status_code in (409, 422) and "已有另一位患者" in text_of(clash)
    assert db.session.get(Patient, other.id, populate_existing=True).id_number_hash == crypto.lookup_hash(
        cm.resident_id(502))


def test_invalid_resident_id_check_digit_is_refused(client, s):
    client.login("cm_boss")
    wrong = ID[:-1] + ("0" if ID[-1] != "0" else "1")
    before = (count(Patient), count(AuditLog))
    response = client.submit("/casemgmt/patients/new", new_patient_form(id_number=wrong))
    assert response.status_code == 422 and "校验位不正确" in text_of(response)
    short = client.submit("/casemgmt/patients/new", new_patient_form(id_number="12345"))
    assert short.status_code == 422 and "18 位" in text_of(short)
    assert (count(Patient), count(AuditLog)) == before


def test_custom_package_needs_1_3_6_or_12_months_and_computes_the_end_date(client, s):
    patient = cm.make_patient("钱一", phone=None)
    patient.created_by_id = s.boss.id
    db.session.commit()
    client.login("cm_boss")
    url = f"/casemgmt/patients/{patient.id}/enrol"
    for months in ("", "5", "abc"):
        refused = client.submit(url, enrol_form(package="custom", package_months=months))
        assert refused.status_code == 422 and count(Enrolment) == 0
    assert "1、3、6 或 12" in text_of(client.submit(url, enrol_form(package="custom", package_months="")))
    done = client.submit(url, enrol_form(package="custom", package_months="3", start_date="2026-11-30"))
    assert done.status_code == 303
    enrolment = db.session.scalar(select(Enrolment))
    assert (enrolment.package_months, enrolment.end_date) == (3, date(2027, 2, 28))
    assert "定制服务包（3 个月）" in text_of(client.get(f"/casemgmt/patients/{patient.id}"))


def test_a_second_active_enrolment_is_refused(client, s):
    patient = managed_patient(s)
    client.login("cm_boss")
    response = client.submit(f"/casemgmt/patients/{patient.id}/enrol", enrol_form(icd10_code="I21",
                                                                                  disease_name="急性心肌梗死"))
    assert response.status_code in (409, 422) and "已在管理中" in text_of(response)
    assert count(Enrolment) == 1


def test_edit_enrolment_key_dates_ward_and_manager(client, s):
    patient = managed_patient(s)
    enrolment = patient.active_enrolment
    client.login("cm_boss")
    assert client.get(f"/casemgmt/enrolments/{enrolment.id}/edit").status_code == 200
    bad = client.submit(f"/casemgmt/enrolments/{enrolment.id}/edit", enrol_form(
        admission_date="2026-11-10", discharge_date="2026-11-05"))
    assert bad.status_code == 422 and "出院日期不能早于入院日期" in text_of(bad)
    ok = client.submit(f"/casemgmt/enrolments/{enrolment.id}/edit", enrol_form(
        admission_date="2026-11-03", surgery_date="2026-11-05", discharge_date="2026-11-12",
        ward_id=str(s.other.id), bed="8", case_manager_id=str(s.wang.id), icd10_code="Z99", disease_name="改不了"))
    assert ok.status_code == 303
    enrolment = db.session.get(Enrolment, enrolment.id, populate_existing=True)
    assert (enrolment.discharge_date, enrolment.ward_id, enrolment.bed, enrolment.case_manager_id) == (
        date(2026, 11, 12), s.other.id, "8", s.wang.id)
    assert enrolment.icd10_code == "C34.1"  # the disease is not edited here
    assert audits("update", "enrolment")


def test_close_enrolment_cancels_open_tasks(client, s):
    cm.make_pathway()
    patient = managed_patient(s, discharge_date=date(2026, 11, 20), admission_date=date(2026, 11, 10))
    enrolment = patient.active_enrolment
    tasks.build_daily_tasks(date(2026, 11, 21))
    db.session.commit()
    (task,) = db.session.scalars(select(CareTask)).all()
    client.login("cm_li")
    missing = client.submit(f"/casemgmt/enrolments/{enrolment.id}/close", {"closed_on": "2026-11-25",
                                                                          "close_reason": ""})
    assert missing.status_code == 422 and "结案原因" in text_of(missing)
    early = client.submit(f"/casemgmt/enrolments/{enrolment.id}/close", {"closed_on": "2026-10-01",
                                                                        "close_reason": "患者转院"})
    assert early.status_code == 422 and "不能早于入组日期" in text_of(early)
    assert db.session.get(CareTask, task.id, populate_existing=True).status == "open"
    done = client.submit(f"/casemgmt/enrolments/{enrolment.id}/close", {"closed_on": "2026-11-25",
                                                                       "close_reason": "患者转院"})
    assert done.status_code == 303
    assert db.session.get(CareTask, task.id, populate_existing=True).status == "cancelled"
    enrolment = db.session.get(Enrolment, enrolment.id, populate_existing=True)
    assert (enrolment.status, enrolment.close_reason) == ("closed", "患者转院")
    again = client.submit(f"/casemgmt/enrolments/{enrolment.id}/close", {"closed_on": "2026-11-26",
                                                                        "close_reason": "重复"})
    assert again.status_code == 422 and "已结案" in text_of(again)
    assert client.get(f"/casemgmt/enrolments/{enrolment.id}/edit").status_code == 409


def test_edit_patient_re_encrypts_and_blank_keeps(client, s):
    patient = managed_patient(s)
    client.login("cm_boss")
    response = client.submit(f"/casemgmt/patients/{patient.id}/edit", {
        "name": "", "id_type": "resident", "id_number": "", "phone": "13500002222", "hospital_no": "Z1001",
        "gender": "M", "birth_date": "1965-03-12", "notes": "对青霉素过敏"})
    assert response.status_code == 303, text_of(response)[-300:]
    patient = db.session.get(Patient, patient.id, populate_existing=True)
    assert patient.name == "张三丰" and crypto.decrypt(patient.id_number_enc) == ID
    assert crypto.decrypt(patient.phone_enc) == "13500002222" and patient.phone_masked == "135****2222"
    assert patient.phone_hash == crypto.lookup_hash("13500002222") and patient.notes == "对青霉素过敏"
    change = audits("update", "patient")[-1]
    assert "13500002222" not in str(change.changes) and change.changes["phone"]["after"] == "（已更改）"
    assert "张*丰" in text_of(client.htmx_get("/casemgmt/patients?q=13500002222"))
    cleared = client.submit(f"/casemgmt/patients/{patient.id}/edit", {
        "name": "张三峰", "id_type": "resident", "id_number": "", "phone": "", "clear_phone": "y",
        "hospital_no": "", "gender": "M", "birth_date": "", "notes": ""})
    assert cleared.status_code == 303
    patient = db.session.get(Patient, patient.id, populate_existing=True)
    assert (patient.name, patient.phone_enc, patient.phone_masked, patient.hospital_no) == ("张三峰", None, "", None)
    passport = client.submit(f"/casemgmt/patients/{patient.id}/edit", {
        "name": "", "id_type": "passport", "id_number": "", "gender": "M"})
    assert passport.status_code == 303  # the stored number is also a valid passport number
    assert db.session.get(Patient, patient.id, populate_existing=True).id_type == "passport"
    back = client.submit(f"/casemgmt/patients/{patient.id}/edit", {
        "name": "", "id_type": "resident", "id_number": "AB1234567", "gender": "M"})
    assert back.status_code == 422 and "18 位" in text_of(back)


def test_audit_records_and_the_audit_log_never_show_a_patients_name_in_clear(client, s):
    make_user("aud", ["auditor"], s.tree.hospital)
    client.login("cm_li")
    assert client.submit("/casemgmt/patients/new", new_patient_form()).status_code == 303
    patient = db.session.scalar(select(Patient).where(Patient.name == "李四光"))
    client.login("cm_boss")
    assert client.submit(f"/casemgmt/patients/{patient.id}/edit", {
        "name": "李四海", "id_type": "resident", "id_number": "", "phone": "", "hospital_no": "Z2002",
        "gender": "M", "birth_date": "", "notes": ""}).status_code == 303
    assert client.get("/casemgmt/patients/export?q=%E6%9D%8E%E5%9B%9B%E6%B5%B7").status_code == 200
    created, updated = audits("create", "patient")[-1], audits("update", "patient")[-1]
    assert created.changes["name"] == {"before": None, "after": "李*光"}
    assert updated.changes["name"] == {"before": "李*光", "after": "李*海"}
    assert audits("export", "patient")[-1].changes["filters"]["q"] == "李*海"
    stored = " ".join(str(log.changes) for log in db.session.scalars(select(AuditLog)))
    assert "李四光" not in stored and "李四海" not in stored
    # A record written before the name was masked is shown masked, on the page and in the export.
    mask = _AUDITED.pop(("patient", "name"))
    try:
        audit.record("update", "patient", patient.id, changes={"name": {"before": "李四海", "after": "李四洋"}})
    finally:
        _AUDITED[("patient", "name")] = mask
    db.session.commit()
    client.login("aud")
    page = text_of(client.get("/audit/?entity_type=patient"))
    assert "李*海 → 李*洋" in page and "李*光 → 李*海" in page
    assert not any(name in page for name in ("李四光", "李四海", "李四洋"))
    cells = workbook_text(client.get("/audit/export?entity_type=patient").data)
    assert "李*洋" in cells and "李四洋" not in cells and "李四光" not in cells


# --- scoping -----------------------------------------------------------------------------------------------------

def test_case_manager_without_visibility_gets_404(client, s):
    patient = managed_patient(s)
    client.login("cm_wang")  # another ward, not the patient's case manager
    assert "张*丰" not in text_of(client.get("/casemgmt/patients"))
    assert "张*丰" not in workbook_text(client.get("/casemgmt/patients/export").data)
    enrolment_id = patient.active_enrolment.id
    for url in (f"/casemgmt/patients/{patient.id}", f"/casemgmt/patients/{patient.id}/edit",
                f"/casemgmt/patients/{patient.id}/enrol", f"/casemgmt/enrolments/{enrolment_id}/edit"):
        assert client.get(url).status_code == 404, url
    assert client.submit(f"/casemgmt/enrolments/{enrolment_id}/close",
                         {"closed_on": "2026-11-25", "close_reason": "x"}).status_code == 404
    assert client.submit(f"/casemgmt/patients/{patient.id}/notes", {"body": "x"}).status_code == 404
    assert patient.active_enrolment.status == "active" and count(HandoverNote) == 0
    client.submit("/logout")
    # Covering the patient's ward is enough to see the patient.
    cm.cover(s.ward, s.wang)
    client.login("cm_wang")
    assert client.get(f"/casemgmt/patients/{patient.id}").status_code == 200


def test_anonymous_goes_to_login_and_other_roles_get_403(client, s):
    assert client.get("/casemgmt/patients").status_code == 302
    assert client.htmx_get("/casemgmt/patients").status_code == 401
    make_user("clin", ["clinician"], s.tree.cardiology)
    client.login("clin")
    for url in ("/casemgmt/patients", "/casemgmt/caseloads", "/casemgmt/ward-coverage", "/casemgmt/patients/new"):
        assert client.get(url).status_code == 403, url


# --- the patient view ---------------------------------------------------------------------------------------------

def test_patient_view_shows_progress_services_special_needs_and_notes(client, s):
    cm.make_pathway()
    patient = managed_patient(s, discharge_date=date(2026, 11, 20), admission_date=date(2026, 11, 10))
    tasks.build_daily_tasks(date(2026, 11, 21))
    db.session.commit()
    (task,) = db.session.scalars(select(CareTask)).all()
    task.special_needs, task.special_note = ["wheelchair"], "需家属陪同"
    db.session.commit()
    tasks.complete_task(task, s.li, outcome="reached", values={"体温": "36.8"}, today=date(2026, 11, 21))
    db.session.commit()
    client.login("cm_li")
    page = text_of(client.get(f"/casemgmt/patients/{patient.id}"))
    assert "出院后电话随访" in page and "已完成：已完成（联系上）" in page and "体温：36.8" in page
    assert "2026-11-21 至 2026-11-23" in page  # due date and window of step 1
    assert "复诊提醒" in page and "2026-11-27" in page  # step 2, not yet made into a task
    assert "轮椅" in page and "需家属陪同" in page
    assert "既往服务" in page and count(LedgerEntry) == 1
    services = client.get(f"/casemgmt/patients/{patient.id}?services_page=1",
                          headers={"HX-Request": "true", "HX-Target": "patient-services"})
    html = services.get_data(as_text=True)
    assert services.status_code == 200 and html.lstrip().startswith('<div id="patient-services">')
    assert "出院后电话随访" in html


def test_handover_note_to_another_case_manager_notifies_them(client, s):
    patient = managed_patient(s)
    client.login("cm_li")
    empty = client.submit(f"/casemgmt/patients/{patient.id}/notes", {"body": "  "}, htmx=True)
    assert empty.status_code == 422 and "请填写交接内容" in text_of(empty)
    stranger = client.submit(f"/casemgmt/patients/{patient.id}/notes", {"body": "x", "to_user_id": str(s.boss.id)})
    assert stranger.status_code == 422 and count(HandoverNote) == 0
    response = client.submit(f"/casemgmt/patients/{patient.id}/notes",
                             {"body": "明日复查血常规，请跟进", "to_user_id": str(s.wang.id)}, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="notes"' in html and "明日复查血常规" in html
    note = db.session.scalar(select(HandoverNote))
    assert (note.to_user_id, note.created_by_id) == (s.wang.id, s.li.id)
    (message,) = db.session.scalars(select(Notification).where(Notification.user_id == s.wang.id)).all()
    assert message.category == "casemgmt" and "张*丰" in message.title and "明日" not in message.body
    assert message.link == f"/casemgmt/patients/{patient.id}#notes"
    assert audits("create", "handover_note")


# --- caseloads and ward coverage ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def low_norm_app(database_url, redis_server, tmp_root):
    application = build_app(database_url, redis_server, tmp_root / "instance-norm", CASELOAD_NORM=2)
    application.test_client_class = PortalClient
    yield application
    application.extensions["db.engine"].dispose()


def test_caseload_warns_above_the_norm(low_norm_app):
    from tests.factories import make_tree

    with rolled_back(low_norm_app):
        tree = make_tree()
        li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
        cm.make_case_manager("cm_wang", tree.surgery, "王个管")
        make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="周组长")
        for i in range(3):
            cm.enrol(cm.make_patient(f"患者{i}", phone=None), case_manager=li)
        cm.enrol(cm.make_patient("无人管", phone=None))
        client = low_norm_app.test_client()
        client.login("cm_boss")
        page = text_of(client.get("/casemgmt/caseloads"))
        assert "1:2" in page and "李个管" in page and "超出配比" in page and "150.0%" in page
        assert "王个管" in page and "0.0%" in page and "1 例未指定个案管理师" in page
        assert "至少 2 名个案管理师" in page
        import io

        from openpyxl import load_workbook

        exported = client.get("/casemgmt/caseloads/export")
        assert exported.status_code == 200 and exported.mimetype.endswith("spreadsheetml.sheet")
        rows = list(load_workbook(io.BytesIO(exported.data)).active.iter_rows(values_only=True))
        header = rows.index(("个案管理师", "覆盖病区", "在管患者", "配比标准", "负荷", "状态"))
        assert {r[0]: (r[2], r[3], r[5]) for r in rows[header + 1:]} == {"李个管": (3, 2, "超出配比"),
                                                                        "王个管": (0, 2, "正常")}


def test_caseload_within_the_norm_has_no_warning(client, s):
    managed_patient(s)
    client.login("cm_boss")
    page = text_of(client.get("/casemgmt/caseloads"))
    assert "1:500" in page and "超出配比" not in page and "0.2%" in page
    client.submit("/logout")
    client.login("cm_li")
    assert client.get("/casemgmt/caseloads").status_code == 403


def test_ward_coverage_add_and_remove_is_audited(client, s):
    client.login("cm_li")
    assert client.get("/casemgmt/ward-coverage").status_code == 403
    assert client.submit("/casemgmt/ward-coverage/add", {"ward_id": s.ward.id,
                                                         "case_manager_id": s.li.id}).status_code == 403
    client.submit("/logout")
    client.login("cm_boss")
    page = text_of(client.get("/casemgmt/ward-coverage"))
    assert "胸外病区" in page and "无人覆盖" in page and "骨科病区 王个管" in page
    added = client.submit("/casemgmt/ward-coverage/add", {"ward_id": s.ward.id, "case_manager_id": s.li.id},
                          htmx=True)
    assert added.status_code == 200 and "李个管" in text_of(added)
    assert db.session.scalar(select(WardCoverage.id).where(WardCoverage.ward_id == s.ward.id,
                                                           WardCoverage.case_manager_id == s.li.id))
    not_a_manager = client.submit("/casemgmt/ward-coverage/add", {"ward_id": s.ward.id,
                                                                  "case_manager_id": s.boss.id})
    assert not_a_manager.status_code == 422
    before = count(WardCoverage)
    removed = client.submit(f"/casemgmt/ward-coverage/{s.ward.id}/{s.li.id}/remove")
    assert removed.status_code == 303 and count(WardCoverage) == before - 1
    assert [a.action for a in db.session.scalars(select(AuditLog).where(
        AuditLog.entity_type == "ward_coverage").order_by(AuditLog.id))] == ["create", "delete"]
    bad = client.submit(f"/casemgmt/ward-coverage/{99999999999}/{s.li.id}/remove")
    assert bad.status_code == 422 and "请选择病区" in text_of(bad)


# --- the import ---------------------------------------------------------------------------------------------------

HEADER = ["姓名", "证件类型", "证件号码", "电话", "住院号", "性别", "ICD-10编码", "疾病名称", "TNM分期", "服务包",
          "服务期限(月)", "入组日期", "病区", "床号", "个案管理师", "入院日期", "手术日期", "出院日期"]


@pytest.fixture
def importer(client, s):
    make_user("cm_admin", ["cm_supervisor", "sysadmin"], s.tree.surgery, name="导入员")
    staff_no = make_staff("李个管档案", s.tree.surgery, employee_no="E9001")
    s.li.staff_id = None
    db.session.flush()
    s.li.staff_id = staff_no.id
    db.session.commit()
    client.login("cm_admin")
    return client


def enrolment_rows(s, changes: dict | None = None):
    first = ["赵六", "居民身份证", cm.resident_id(601).lower(), "13811112222", "H601", "", "c34.1", "肺恶性肿瘤",
             "T1N0M0", "定制服务包", 6, "2026-11-02", s.ward.name, "5", "E9001", "2026-11-02", "", ""]
    second = ["孙七", "resident", cm.resident_id(602), "", "H602", "女", "C50.9", "乳腺恶性肿瘤", "", "", "",
              date(2026, 11, 3), s.ward.code, "", "", "", "", ""]
    rows = [HEADER, first, second]
    for (row, column), value in (changes or {}).items():
        rows[row][HEADER.index(column)] = value
    return rows


def test_import_template_preview_commit_and_the_same_file_twice(importer, s):
    client = importer
    template = load_workbook(io.BytesIO(client.get("/imports/cm_enrolment/template").data))
    assert [c.value for c in template.worksheets[0][1]] == HEADER
    notes = {r[0]: r[3] for r in template.worksheets[1].iter_rows(values_only=True)}
    assert "居民身份证" in notes["证件类型"] and "工号" in notes["个案管理师"]
    assert "/imports/cm_enrolment" in client.get("/casemgmt/patients").get_data(as_text=True)
    content = xlsx_bytes(enrolment_rows(s))
    page = client.submit("/imports/cm_enrolment/preview", {"file": (io.BytesIO(content), "入组.xlsx")},
                         content_type="multipart/form-data")
    assert page.status_code == 200 and "新记录 2" in text_of(page) and count(Patient) == 0
    done = client.submit("/imports/cm_enrolment/commit", {"sha256": hashlib.sha256(content).hexdigest(),
                                                          "mode": "upsert"})
    assert done.status_code == 303
    zhao = db.session.scalar(select(Patient).where(Patient.name == "赵六"))
    assert crypto.decrypt(zhao.id_number_enc) == cm.resident_id(601) and zhao.phone_masked == "138****2222"
    e = zhao.active_enrolment
    assert (e.icd10_code, e.package, e.package_months, e.end_date, e.ward_id, e.bed, e.case_manager_id) == (
        "C34.1", "custom", 6, date(2027, 5, 2), s.ward.id, "5", s.li.id)
    sun = db.session.scalar(select(Patient).where(Patient.name == "孙七"))
    assert sun.gender == "F" and sun.active_enrolment.package == "basic" and sun.phone_enc is None
    snapshot = (count(Patient), count(Enrolment), count(AuditLog) - len(audits("create", "import_log")))
    again = imports.commit("cm_enrolment", "入组.xlsx", content, "upsert", user_id=None)
    db.session.commit()
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 2)
    assert (count(Patient), count(Enrolment), count(AuditLog) - len(audits("create", "import_log"))) == snapshot


def test_import_correction_updates_key_dates_ward_and_manager(importer, s):
    imports.commit("cm_enrolment", "a.xlsx", xlsx_bytes(enrolment_rows(s)), "upsert", user_id=None)
    db.session.commit()
    corrected = enrolment_rows(s, {(1, "出院日期"): "2026-11-20", (1, "手术日期"): "2026/11/05",
                                   (1, "病区"): s.other.name, (1, "床号"): "9", (2, "出院日期"): 46350})
    result = imports.preview("cm_enrolment", "b.xlsx", xlsx_bytes(corrected))
    assert result.counts == {"total": 2, "new": 0, "updated": 2, "duplicate": 0, "invalid": 0}
    log = imports.commit("cm_enrolment", "b.xlsx", xlsx_bytes(corrected), "upsert", user_id=None)
    db.session.commit()
    assert log.rows_updated == 2
    zhao = db.session.scalar(select(Patient).where(Patient.name == "赵六"))
    e = zhao.active_enrolment
    assert (e.surgery_date, e.discharge_date, e.ward_id, e.bed, e.case_manager_id) == (
        date(2026, 11, 5), date(2026, 11, 20), s.other.id, "9", s.li.id)
    assert count(Enrolment) == 2


def test_import_bad_rows_are_reported_and_nothing_is_written(importer, s):
    rows = enrolment_rows(s, {(1, "证件类型"): "军官证", (2, "证件号码"): cm.resident_id(602)[:-1] + "Y",
                              (1, "个案管理师"): "E0000"})
    rows.append(["周八", "居民身份证", cm.resident_id(603), "12345", "", "", "XX", "病", "", "定制", 5,
                 "2026-13-01", "火星病区", "", "", "", "", ""])
    rows.append(["赵六", "居民身份证", cm.resident_id(601), "", "", "", "C34", "肺", "", "", "", "2026-11-02",
                 "", "", "", "", "", ""])
    rows.append(["吴九", "居民身份证", cm.resident_id(604), "", "", "", "C34", "肺", "", "定制", 4, "2026-11-02",
                 "", "", "", "", "", ""])
    result = imports.preview("cm_enrolment", "bad.xlsx", xlsx_bytes(rows))
    messages = " ".join(m for _, _, _, m in result.first_errors(50))
    assert result.counts["invalid"] == 4 and result.counts["new"] == 1
    assert "应为以下之一" in messages and "找不到工号为“E0000”的在岗个案管理师" in messages
    assert "日期“2026-13-01”不存在" in messages and "找不到科室“火星病区”" in messages
    assert "1、3、6 或 12" in messages
    before = (count(Patient), count(Enrolment))
    page = importer.submit("/imports/cm_enrolment/preview", {"file": (io.BytesIO(xlsx_bytes(rows)), "bad.xlsx")},
                           content_type="multipart/form-data")
    assert page.status_code == 200 and "确认导入" not in text_of(page)
    with pytest.raises(Exception, match="没有写入任何数据"):
        imports.commit("cm_enrolment", "bad.xlsx", xlsx_bytes(rows), "upsert", user_id=None)
    assert (count(Patient), count(Enrolment)) == before


def test_import_needs_the_enrol_permission(client, s):
    make_user("plain_admin", ["sysadmin"], s.tree.surgery)
    client.login("plain_admin")
    assert client.get("/imports/cm_enrolment").status_code == 403


def _writes_during(action) -> tuple[object, list[str]]:
    """The INSERT, COPY and UPDATE statements (as the driver receives them: one per executemany) an action sends."""
    with statements(db.session.connection(), only=("INSERT", "COPY", "UPDATE")) as writes:
        result = action()
    return result, writes


def test_import_writes_in_bulk_with_one_summary_audit_record_naming_patients_masked(importer, s):
    rows = enrolment_rows(s)
    for n in range(40):
        rows.append([f"患者{n}", "居民身份证", cm.resident_id(700 + n), "", f"H7{n:02d}", "", "C34.1", "肺恶性肿瘤", "",
                     "", "", "2026-11-05", s.ward.name, "", "E9001", "", "", ""])
    audits_before = count(AuditLog)
    log, writes = _writes_during(lambda: imports.commit("cm_enrolment", "入组.xlsx", xlsx_bytes(rows), "upsert",
                                                      user_id=None))
    db.session.commit()
    assert log.rows_new == 42 and count(Patient) == 42 and count(Enrolment) == 42
    tables = sorted({w.split()[2 if w.lstrip().upper().startswith("INSERT") else 1].strip('"') for w in writes
                     if w.lstrip().upper().startswith(("INSERT", "COPY"))})
    # One statement per table (executemany, or COPY on PostgreSQL), not one per row; the log and its one audit record.
    assert len(writes) <= 6 and tables == ["audit_logs", "enrolments", "import_logs", "patients"], writes
    assert count(AuditLog) == audits_before + 1
    summary = audits("create", "import_log")[-1]
    keys = summary.changes["keys"]["after"]
    assert len(keys["new"]) == 42 and keys["updated"] == []
    assert keys["new"][0] == "赵* " + cm.resident_id(601)[:4] + "*" * 10 + cm.resident_id(601)[-4:].upper()
    assert cm.resident_id(601)[4:14] not in str(summary.changes)  # never an ID number in full
    patient = db.session.scalar(select(Patient).where(Patient.name == "患者7"))
    assert patient.birth_date == date(1965, 3, 12) and patient.gender in ("M", "F")
    assert patient.active_enrolment.case_manager_id == s.li.id and patient.active_enrolment.ward_id == s.ward.id
    # Corrections too: one UPDATE for the changed enrolments, the summary naming them.
    corrected = enrolment_rows(s, {(1, "床号"): "21", (2, "出院日期"): "2026-11-20"})
    log, writes = _writes_during(lambda: imports.commit("cm_enrolment", "b.xlsx", xlsx_bytes(corrected), "upsert",
                                                       user_id=None))
    db.session.commit()
    assert (log.rows_new, log.rows_updated) == (0, 2)
    assert sum(1 for w in writes if w.lstrip().upper().startswith("UPDATE")) == 1
    assert len(audits("create", "import_log")[-1].changes["keys"]["after"]["updated"]) == 2
    zhao = db.session.scalar(select(Patient).where(Patient.name == "赵六"))
    assert zhao.active_enrolment.bed == "21" and zhao.active_enrolment.end_date == date(2027, 5, 2)
    assert audits("create", "patient") == [] and audits("update", "enrolment") == []


def test_import_of_a_closed_patient_enrols_again_unless_the_same_start_was_imported(importer, s):
    imports.commit("cm_enrolment", "a.xlsx", xlsx_bytes(enrolment_rows(s)), "upsert", user_id=None)
    db.session.commit()
    sun = db.session.scalar(select(Patient).where(Patient.name == "孙七"))
    from portal.casemgmt.patients import services as patient_services

    patient_services.close_enrolment(sun.active_enrolment, closed_on=date(2026, 11, 10), reason="出院随访结束")
    db.session.commit()
    again = imports.commit("cm_enrolment", "a.xlsx", xlsx_bytes(enrolment_rows(s)), "upsert", user_id=None)
    db.session.commit()
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 2)  # not re-opened
    later = enrolment_rows(s, {(2, "入组日期"): "2026-11-15"})
    log = imports.commit("cm_enrolment", "c.xlsx", xlsx_bytes(later), "upsert", user_id=None)
    db.session.commit()
    assert log.rows_updated == 1
    held = db.session.scalars(select(Enrolment).where(Enrolment.patient_id == sun.id)
                              .order_by(Enrolment.id)).all()
    assert [(e.status, e.start_date) for e in held] == [("closed", date(2026, 11, 3)),
                                                       ("active", date(2026, 11, 15))]
    assert held[1].created_at is not None and held[1].package == "basic"


def test_import_refused_while_writing_writes_nothing(importer, s, monkeypatch):
    """A row the database refuses (here: a patient registered meanwhile) undoes every row of the file."""
    cm.make_patient("孙七", id_number=cm.resident_id(602), hospital_no=None)
    before = (count(Patient), count(Enrolment), count(AuditLog))
    from portal.casemgmt.patients import imports as enrolment_import

    monkeypatch.setattr(imports.TYPES["cm_enrolment"], "find_existing", lambda keys: {})  # as if not yet there
    with pytest.raises(Exception, match="没有写入任何数据"):
        imports.commit("cm_enrolment", "a.xlsx", xlsx_bytes(enrolment_rows(s)), "upsert", user_id=None)
    db.session.rollback()
    assert (count(Patient), count(Enrolment), count(AuditLog)) == before
    assert enrolment_import.ENROLMENT_IMPORT.write_many is not None


def test_import_of_a_case_manager_no_longer_active_refuses_the_correction(importer, s):
    imports.commit("cm_enrolment", "a.xlsx", xlsx_bytes(enrolment_rows(s)), "upsert", user_id=None)
    db.session.commit()
    db.session.get(User, s.li.id).is_active_flag = False
    db.session.commit()
    corrected = enrolment_rows(s, {(1, "床号"): "21", (1, "个案管理师"): ""})  # keeps a manager who left
    with pytest.raises(Exception, match=r"不是在岗的个案管理师.*没有写入任何数据"):
        imports.commit("cm_enrolment", "b.xlsx", xlsx_bytes(corrected), "upsert", user_id=None)
    db.session.rollback()
    zhao = db.session.scalar(select(Patient).where(Patient.name == "赵六"))
    assert zhao.active_enrolment.bed == "5"


def test_import_attaches_waiting_plan_items_to_the_patients_it_registers(importer, s):
    cm.submit_waiting_items(local_today() + timedelta(days=1))
    imports.commit("cm_enrolment", "a.xlsx", xlsx_bytes(enrolment_rows(s)), "upsert", user_id=None)
    db.session.commit()
    from portal.casemgmt.models import PlanItem

    found = {i.external_id: i.patient_id for i in db.session.scalars(select(PlanItem))}
    zhao, sun = (db.session.scalar(select(Patient.id).where(Patient.name == n)) for n in ("赵六", "孙七"))
    assert found == {"U1": zhao, "U2": sun}


# --- bad input -------------------------------------------------------------------------------------------------------

def test_bad_ids_query_strings_and_forms_are_refused_in_chinese_and_change_nothing(client, s):
    patient = managed_patient(s)
    client.login("cm_boss")
    tables = (Patient, Enrolment, HandoverNote, WardCoverage, AuditLog)
    before = [count(t) for t in tables]
    for url in ("/casemgmt/patients/0", "/casemgmt/patients/99999999999999999999", "/casemgmt/patients/abc",
                "/casemgmt/patients/-1", "/casemgmt/enrolments/2147483648/edit", "/casemgmt/patients/999999/edit"):
        response = client.get(url)
        assert response.status_code == 404 and "页面不存在" in text_of(response), url
    for query in ("case_manager_id=99999999999999999999", "case_manager_id=abc", "status=deleted", "sort=id_number",
                  "page=0", "ward_id=-5", "q=" + "长" * 200):
        response = client.get(f"/casemgmt/patients?{query}")
        assert response.status_code == 400 and "请求有误" in text_of(response), query
    forms = [
        ("/casemgmt/patients/new", new_patient_form(name="", id_number=""), "请填写患者姓名"),
        ("/casemgmt/patients/new", new_patient_form(id_type="military"), "不是有效的选择"),
        ("/casemgmt/patients/new", new_patient_form(gender="X"), "不是有效的选择"),
        ("/casemgmt/patients/new", new_patient_form(phone="12345"), "电话号码格式不正确"),
        ("/casemgmt/patients/new", new_patient_form(birth_date="1965-02-30"), "不是有效的日期"),
        ("/casemgmt/patients/new", new_patient_form(**{"enrol-icd10_code": "肺癌"}), "ICD-10 编码格式不正确"),
        ("/casemgmt/patients/new", new_patient_form(**{"enrol-package": "gold"}), "不是有效的选择"),
        ("/casemgmt/patients/new", new_patient_form(**{"enrol-ward_id": "99999999999999999999"}), "不是有效的选择"),
        ("/casemgmt/patients/new", new_patient_form(**{"enrol-case_manager_id": "abc"}), "选择无效"),
        ("/casemgmt/patients/new", new_patient_form(**{"enrol-start_date": "9999-01-01"}), "1900-01-01"),
        ("/casemgmt/patients/new", new_patient_form(notes="x" * 3000), "不能超过 2000 个字符"),
        (f"/casemgmt/patients/{patient.id}/enrol", enrol_form(start_date=""), "请填写入组日期"),
        (f"/casemgmt/enrolments/{patient.active_enrolment.id}/edit", enrol_form(package_months="999"),
         "不是有效的选择"),
        ("/casemgmt/ward-coverage/add", {"ward_id": "", "case_manager_id": str(s.li.id)}, "请选择病区"),
    ]
    for url, data, message in forms:
        response = client.submit(url, data)
        assert response.status_code == 422 and message in text_of(response), (url, message, text_of(response)[-600:])
    assert client.submit("/casemgmt/patients/new", new_patient_form(name="<script>alert(1)</script>",
                                                                      id_number="1")).status_code == 422
    assert [count(t) for t in tables] == before
    assert db.session.scalar(select(func.count()).select_from(User)) > 0
    assert client.get(f"/casemgmt/patients/{patient.id}?services_page=abc").status_code == 400
    timeout = (local_today() + timedelta(days=1)).isoformat()
    assert client.submit(f"/casemgmt/enrolments/{patient.active_enrolment.id}/close",
                         {"closed_on": timeout, "close_reason": "x" * 300}).status_code == 422


def test_import_in_file_clashes_on_every_unique_key_are_preview_errors(importer, s):
    first, second = enrolment_rows(s)[1:]
    same_hospital_no = enrolment_rows(s, {(2, "住院号"): "H601"})
    result = imports.preview("cm_enrolment", "住院号.xlsx", xlsx_bytes(same_hospital_no))
    assert result.counts["duplicate"] == 1 and result.counts["new"] == 1
    assert result.first_errors() == [(3, "住院号", "H601", "与第 2 行重复（住院号相同）")]
    # The same person with a space in the name and a full-width ID number is the same row twice.
    spaced = [*first]
    spaced[0], spaced[2] = "赵 六", spaced[2].translate(str.maketrans("0123456789x", "０１２３４５６７８９Ｘ"))
    spaced[4] = ""
    result = imports.preview("cm_enrolment", "同一人.xlsx", xlsx_bytes([HEADER, first, spaced, second]))
    assert result.first_errors() == [(3, "证件类型、证件号码、姓名", ("resident", cm.resident_id(601), "赵六"),
                                      "与第 2 行重复")]
    with pytest.raises(Exception, match="没有写入任何数据"):
        imports.commit("cm_enrolment", "住院号.xlsx", xlsx_bytes(same_hospital_no), "upsert", user_id=None)
    assert count(Patient) == 0


def test_import_names_are_normalised_so_a_space_makes_no_second_patient(importer, s):
    rows = enrolment_rows(s, {(1, "姓名"): "欧阳 娜娜", (1, "住院号"): " H 601 "})[:2]
    imports.commit("cm_enrolment", "a.xlsx", xlsx_bytes(rows), "upsert", user_id=None)
    db.session.commit()
    patient = db.session.scalar(select(Patient))
    assert (patient.name, patient.hospital_no) == ("欧阳娜娜", "H601")
    again = enrolment_rows(s, {(1, "姓名"): "欧阳娜娜", (1, "床号"): "7"})[:2]
    log = imports.commit("cm_enrolment", "b.xlsx", xlsx_bytes(again), "upsert", user_id=None)
    db.session.commit()
    assert (log.rows_new, log.rows_updated) == (0, 1) and count(Patient) == 1
    # A patient registered by hand as "欧阳 娜娜" is found by the file's "欧阳娜娜" too.
    cm.make_patient("上官 婉儿", id_number=cm.resident_id(650), hospital_no=None)
    third = enrolment_rows(s, {(1, "姓名"): "上官婉儿", (1, "证件号码"): cm.resident_id(650), (1, "住院号"): ""})[:2]
    result = imports.preview("cm_enrolment", "c.xlsx", xlsx_bytes(third))
    assert (result.counts["new"], result.counts["updated"]) == (0, 1)


def test_the_list_reads_one_row_per_patient_with_its_active_enrolment(client, s):
    """One query gives each patient's masked fields, active enrolment, ward, bed and case manager, and whether
    they were ever enrolled: the statements do not grow with the patients, and each column says what it holds."""
    from portal.casemgmt.patients import services as patient_services

    managed_patient(s)
    closed = cm.make_patient("欧阳明月", hospital_no="Z1002", phone=None)
    enrolment = cm.enrol(closed, case_manager=s.wang, ward=s.other)
    patient_services.close_enrolment(enrolment, closed_on=date(2026, 11, 20), reason="治疗结束")
    cm.make_patient("钱多多", hospital_no="Z1003")
    db.session.commit()
    client.login("cm_boss")
    client.get("/casemgmt/patients")
    with statements() as seen:
        page = client.get("/casemgmt/patients")
        few = len(seen)
        for n in range(8):
            cm.enrol(cm.make_patient(f"孙{n}号", phone=None), case_manager=s.li, ward=s.ward, bed=str(n))
        seen.clear()
        more = client.get("/casemgmt/patients")
    assert len(seen) == few, seen
    assert "（11）" in text_of(more)
    rows = page.get_data(as_text=True).split("<tr>")
    managed = next(r for r in rows if "Z1001" in r)
    for shown in ("张*丰", ID_MASKED, PHONE_MASKED, "肺恶性肿瘤", "C34.1",
                  "胸外病区", "李个管", "2026-11-01", "管理中"):
        assert shown in managed, (shown, managed)
    ended = next(r for r in rows if "Z1002" in r)
    assert "已结案" in ended and "王个管" not in ended and "骨科病区" not in ended
    assert "未入组" in next(r for r in rows if "Z1003" in r)
