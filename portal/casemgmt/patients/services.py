"""Patients (real-name triple, encrypted ID and phone numbers) and their enrolment under management."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime

from sqlalchemy import func, or_, select

from portal.auth.models import Department, Role, User, user_roles
from portal.core import audit, crypto, masking
from portal.core import reveal as reveal_rule
from portal.core.service import Conflict, ServiceError, clean
from portal.extensions import db

from ..models import (
    GENDERS,
    ID_TYPES,
    PACKAGE_MONTHS,
    PACKAGES,
    CareTask,
    Enrolment,
    HandoverNote,
    Pathway,
    PathwayVersion,
    Patient,
    WardCoverage,
)

ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
# Dates a patient's record may hold (forms and the Excel import refuse others).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
OUT_OF_RANGE = "日期应在 1900-01-01 至 2199-12-31 之间"
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
LANDLINE = re.compile(r"^0[0-9]{2,3}-?[0-9]{7,8}$")
RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_CHECK = "10X98765432"
PATIENT_FIELDS = ("name", "id_type", "id_number_masked", "phone_masked", "hospital_no", "gender", "birth_date", "notes")
ENROLMENT_FIELDS = ("icd10_code", "disease_name", "tnm_stage", "package", "package_months", "start_date", "end_date",
                    "ward_id", "bed", "case_manager_id", "admission_date", "surgery_date", "discharge_date",
                    "status", "closed_on", "close_reason")


def check_id_number(id_type: str, number: str) -> str:
    """The normalised number, or a ServiceError saying what is wrong with it."""
    if id_type not in ID_TYPES:
        raise ServiceError("请选择证件类型。", field="id_type")
    value = crypto.normalise(number or "")
    if not value:
        raise ServiceError("请填写证件号码。", field="id_number")
    if id_type == "resident":
        if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
            raise ServiceError("居民身份证号码应为 18 位（最后一位可为 X）。", field="id_number")
        total = sum(int(d) * w for d, w in zip(value[:17], RESIDENT_WEIGHTS, strict=True))
        if RESIDENT_CHECK[total % 11] != value[17]:
            raise ServiceError("居民身份证号码校验位不正确，请核对。", field="id_number")
    elif not re.fullmatch(r"[0-9A-Z()\-]{5,32}", value):
        raise ServiceError("证件号码只能包含字母、数字，长度 5–32 位。", field="id_number")
    return value


def check_phone(phone: str | None) -> str:
    value = crypto.normalise(phone or "").replace("-", "")
    if value and not (MOBILE.fullmatch(value) or LANDLINE.fullmatch(value)):
        raise ServiceError("电话号码格式不正确（手机 11 位，座机如 010-12345678）。", field="phone")
    return value


def find_by_identity(name: str, id_type: str, id_number: str) -> Patient | None:
    return db.session.scalar(select(Patient).where(
        Patient.name == clean(name), Patient.id_type == id_type,
        Patient.id_number_hash == crypto.lookup_hash(id_number)))


def find_by_ref(ref: str) -> Patient | None:
    """A patient by hospital number or by ID number (any ID type): how plans and imports name patients."""
    text = clean(ref)
    if not text:
        return None
    found = db.session.scalars(select(Patient).where(or_(
        Patient.hospital_no == text, Patient.id_number_hash == crypto.lookup_hash(text))).limit(2)).all()
    return found[0] if len(found) == 1 else None


def find_by_refs(refs: set[str]) -> dict[str, Patient | None]:
    """find_by_ref for many references at once (a plan of hundreds of items): a few queries, same rule."""
    texts = {clean(r) for r in refs if clean(r)}
    by_hash: dict[str, set[str]] = {}
    for text in texts:  # "…x" and "…X" are one ID number: one hash, several spellings
        by_hash.setdefault(crypto.lookup_hash(text), set()).add(text)
    matches: dict[str, dict[int, Patient]] = {t: {} for t in texts}
    values = sorted(texts)
    for start in range(0, len(values), 500):
        chunk = values[start:start + 500]
        chunk_hashes = [crypto.lookup_hash(t) for t in chunk]
        for patient in db.session.scalars(select(Patient).where(or_(
                Patient.hospital_no.in_(chunk), Patient.id_number_hash.in_(chunk_hashes)))):
            for text in {patient.hospital_no, *by_hash.get(patient.id_number_hash, ())} - {None}:
                if text in matches:
                    matches[text][patient.id] = patient
    return {ref: (next(iter(found.values())) if len(found) == 1 else None)
            for ref, found in ((r, matches.get(clean(r), {})) for r in refs)}


def create_patient(*, name: str, id_type: str, id_number: str, phone: str | None = None,
                   hospital_no: str | None = None, gender: str = "U", birth_date: date | None = None,
                   notes: str = "", now: datetime | None = None) -> Patient:
    name = clean(name)
    if not name or len(name) > 50:
        raise ServiceError("请填写患者姓名（50 字以内）。", field="name")
    number = check_id_number(id_type, id_number)
    phone_value = check_phone(phone)
    if gender not in GENDERS:
        raise ServiceError("性别无效。", field="gender")
    if find_by_identity(name, id_type, number) is not None:
        raise Conflict("该患者已建档（姓名、证件类型与证件号码相同）。")
    if id_type == "resident" and (birth_date is None or gender == "U"):
        born, sex = resident_facts(number)  # the number carries both: fill what was left blank
        birth_date, gender = birth_date or born, sex if gender == "U" else gender
    hospital_no = clean(hospital_no) or None
    if hospital_no and len(hospital_no) > 32:
        raise ServiceError("住院号不超过 32 个字符。", field="hospital_no")
    if hospital_no and db.session.scalar(select(Patient.id).where(Patient.hospital_no == hospital_no)):
        raise ServiceError(f"住院号 {hospital_no} 已属于另一位患者。", field="hospital_no")
    patient = Patient(name=name, id_type=id_type, id_number_enc=crypto.encrypt(number),
                      id_number_hash=crypto.lookup_hash(number), id_number_masked=masking.mask_id_number(number),
                      phone_enc=crypto.encrypt(phone_value), phone_hash=crypto.lookup_hash(phone_value),
                      phone_masked=masking.mask_phone(phone_value), hospital_no=hospital_no, gender=gender,
                      birth_date=birth_date, notes=clean(notes))
    db.session.add(patient)
    db.session.flush()
    audit.record("create", "patient", patient.id, label=patient.masked_name,
                 after=audit.snapshot(patient, PATIENT_FIELDS))
    _attach_waiting_plan_items(patient, now)
    return patient


def _attach_waiting_plan_items(patient: Patient, now: datetime | None = None) -> None:
    """Plan items that named this patient before they were registered now point at them."""
    from ..plans.matching import rematch_patient  # plans use this module: imported here, not at the top

    rematch_patient(patient, now=now)


def reveal(patient: Patient, field: str) -> str:
    """The full ID or phone number for a user allowed to see it; every reveal is audited."""
    if field not in ("id_number", "phone"):
        raise ServiceError("只能查看证件号码或电话。")
    value = crypto.decrypt(patient.id_number_enc if field == "id_number" else patient.phone_enc) or ""
    audit.record("reveal", "patient", patient.id, label=patient.masked_name,
                 changes={"field": "证件号码" if field == "id_number" else "电话"})
    return value


def reveal_by_search(term: reveal_rule.SearchTerm, user) -> reveal_rule.SearchTerm:
    """A search by a full ID number or phone is a reveal: audit each patient (the user sees) it found.

    Returns the term as it may be written down (masked when it named an identifier)."""
    from ..scoping import scope_patients

    if not term.hashes:
        return term
    stmt = select(Patient.id, Patient.name, Patient.id_number_hash.in_(term.hashes)).where(
        or_(Patient.id_number_hash.in_(term.hashes), Patient.phone_hash.in_(term.hashes))).order_by(Patient.id)
    found = [(pid, masking.mask_name(name), reveal_rule.ID_NUMBER if by_id else reveal_rule.PHONE)
             for pid, name, by_id in db.session.execute(scope_patients(stmt, Patient.id, user).limit(50))]
    reveal_rule.record_reveal_by_search("patient", found, term)
    return dataclasses.replace(term, kind=found[0][2]) if found and term.kind is None else term


def is_case_manager(user_id: int | None) -> bool:
    if user_id is None:
        return False
    return db.session.scalar(
        select(func.count()).select_from(user_roles).join(Role, Role.id == user_roles.c.role_id)
        .join(User, User.id == user_roles.c.user_id)
        .where(user_roles.c.user_id == user_id, Role.code == "case_manager", User.is_active_flag)) > 0


def pathway_for(icd10_code: str, package: str) -> PathwayVersion | None:
    """The current version of the active pathway with the longest ICD-10 prefix matching the code."""
    candidates = db.session.scalars(select(Pathway).where(Pathway.is_active, Pathway.package.in_((package, "any")))
                                    .order_by(func.length(Pathway.icd10_prefix).desc(), Pathway.id)).all()
    for pathway in candidates:
        if icd10_code.startswith(pathway.icd10_prefix) and pathway.current_version is not None:
            return pathway.current_version
    return None


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _check_enrolment(values: dict) -> dict:
    code = crypto.normalise(values.get("icd10_code") or "")
    if not ICD10.fullmatch(code):
        raise ServiceError("ICD-10 编码格式不正确（如 C34.1、I21）。", field="icd10_code")
    disease = clean(values.get("disease_name"))
    if not disease or len(disease) > 100:
        raise ServiceError("请填写疾病名称（100 字以内）。", field="disease_name")
    package = values.get("package") or "basic"
    if package not in PACKAGES:
        raise ServiceError("请选择服务包。", field="package")
    months = values.get("package_months")
    start = values.get("start_date")
    if not isinstance(start, date):
        raise ServiceError("请填写入组日期。", field="start_date")
    if package == "custom":
        if months not in PACKAGE_MONTHS:
            raise ServiceError("定制服务包的服务期限应为 1、3、6 或 12 个月。", field="package_months")
        end = _add_months(start, months)
    else:
        months, end = None, None
    ward_id = values.get("ward_id")
    if ward_id is not None:
        ward = db.session.get(Department, ward_id)
        if ward is None or not ward.is_active or ward.kind not in ("ward", "department"):
            raise ServiceError("请选择在用的病区。", field="ward_id")
    manager_id = values.get("case_manager_id")
    if manager_id is not None and not is_case_manager(manager_id):
        raise ServiceError("所选人员不是在岗的个案管理师。", field="case_manager_id")
    dates = {k: values.get(k) for k in ("admission_date", "surgery_date", "discharge_date")}
    if dates["admission_date"] and dates["discharge_date"] and dates["discharge_date"] < dates["admission_date"]:
        raise ServiceError("出院日期不能早于入院日期。", field="discharge_date")
    bed = clean(values.get("bed"))
    if len(bed) > 16:
        raise ServiceError("床号不超过 16 个字符。", field="bed")
    tnm = clean(values.get("tnm_stage"))
    if len(tnm) > 32:
        raise ServiceError("TNM 分期不超过 32 个字符。", field="tnm_stage")
    return {"icd10_code": code, "disease_name": disease, "tnm_stage": tnm, "package": package,
            "package_months": months, "start_date": start, "end_date": end, "ward_id": ward_id, "bed": bed,
            "case_manager_id": manager_id, **dates}


def enrol(patient: Patient, **values) -> Enrolment:
    """Put a patient under management; the matching pathway's current version is fixed for this enrolment."""
    data = _check_enrolment(values)
    if patient.active_enrolment is not None:
        raise Conflict("该患者已在管理中，请先结案再重新入组。")
    version = pathway_for(data["icd10_code"], data["package"])
    enrolment = Enrolment(patient_id=patient.id, pathway_version_id=version.id if version else None, **data)
    db.session.add(enrolment)
    db.session.flush()
    db.session.refresh(patient, ["enrolments"])
    audit.record("create", "enrolment", enrolment.id, label=f"{patient.masked_name} {data['disease_name']}",
                 after=audit.snapshot(enrolment, ENROLMENT_FIELDS))
    return enrolment


def update_enrolment(enrolment: Enrolment, **values) -> Enrolment:
    """Correct an enrolment (key dates, ward, bed, case manager, package); the pathway version stays."""
    if enrolment.status != "active":
        raise ServiceError("已结案的入组不能修改。")
    before = audit.snapshot(enrolment, ENROLMENT_FIELDS)
    data = _check_enrolment({**{k: getattr(enrolment, k) for k in ENROLMENT_FIELDS}, **values})
    for key, value in data.items():
        setattr(enrolment, key, value)
    db.session.flush()
    after = audit.snapshot(enrolment, ENROLMENT_FIELDS)
    if before != after:
        audit.record("update", "enrolment", enrolment.id, label=enrolment.disease_name, before=before, after=after)
    return enrolment


def close_enrolment(enrolment: Enrolment, *, closed_on: date, reason: str) -> Enrolment:
    """End management: open tasks of the enrolment are cancelled."""

    if enrolment.status != "active":
        raise Conflict("该入组已结案。")
    reason = clean(reason)
    if not reason or len(reason) > 200:
        raise ServiceError("请填写结案原因（200 字以内）。", field="close_reason")
    if closed_on < enrolment.start_date:
        raise ServiceError("结案日期不能早于入组日期。", field="closed_on")
    before = audit.snapshot(enrolment, ENROLMENT_FIELDS)
    enrolment.status, enrolment.closed_on, enrolment.close_reason = "closed", closed_on, reason
    for task in db.session.scalars(select(CareTask).where(CareTask.enrolment_id == enrolment.id,
                                                          CareTask.status == "open")):
        task.status = "cancelled"
    db.session.flush()
    audit.record("close", "enrolment", enrolment.id, label=enrolment.disease_name, before=before,
                 after=audit.snapshot(enrolment, ENROLMENT_FIELDS))
    return enrolment


def caseloads(user_ids: list[int] | None = None) -> dict[int, int]:
    """Active enrolments per case manager (the 1:500 staffing norm is measured on this)."""
    stmt = (select(Enrolment.case_manager_id, func.count()).where(Enrolment.status == "active",
                                                                  Enrolment.case_manager_id.is_not(None))
            .group_by(Enrolment.case_manager_id))
    if user_ids is not None:
        stmt = stmt.where(Enrolment.case_manager_id.in_(user_ids))
    return dict(db.session.execute(stmt).all())


# --- editing a patient -------------------------------------------------------------------------------------

KEEP = object()  # update_patient: a value not given is kept as it is


def resident_facts(number: str) -> tuple[date | None, str]:
    """Birth date and gender read from an 18-digit resident ID number (unknown when it does not parse)."""
    value = crypto.normalise(number or "")
    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
        return None, "U"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        born = None
    return born, "M" if int(value[16]) % 2 else "F"


def update_patient(patient: Patient, *, name=KEEP, id_type=KEEP, id_number=KEEP, phone=KEEP, hospital_no=KEEP,
                   gender=KEEP, birth_date=KEEP, notes=KEEP) -> Patient:
    """Correct a patient's record; a new ID or phone number is encrypted again. Values not given are kept.

    The real-name triple stays unique; phone None or "" removes the phone number.
    """
    new_name = patient.name if name is KEEP else clean(name)
    if not new_name or len(new_name) > 50:
        raise ServiceError("请填写患者姓名（50 字以内）。", field="name")
    new_type = patient.id_type if id_type is KEEP else id_type
    number_given = id_number is not KEEP and clean(id_number) != ""
    if number_given:
        number = check_id_number(new_type, id_number)
    else:
        # The type may change on its own: the stored number must still be valid for the new type.
        try:
            number = check_id_number(new_type, crypto.decrypt(patient.id_number_enc) or "")
        except ServiceError as error:
            if error.field != "id_number":
                raise
            raise ServiceError(error.message + "（更改证件类型时请重新填写证件号码）", field="id_number") from None
    new_gender = patient.gender if gender is KEEP else gender
    if new_gender not in GENDERS:
        raise ServiceError("性别无效。", field="gender")
    new_phone = None if phone is KEEP else check_phone(phone)
    new_hospital_no = patient.hospital_no if hospital_no is KEEP else (clean(hospital_no) or None)
    if new_hospital_no and len(new_hospital_no) > 32:
        raise ServiceError("住院号不超过 32 个字符。", field="hospital_no")
    if new_hospital_no and db.session.scalar(select(Patient.id).where(Patient.hospital_no == new_hospital_no,
                                                                      Patient.id != patient.id)):
        raise ServiceError(f"住院号 {new_hospital_no} 已属于另一位患者。", field="hospital_no")
    new_notes = patient.notes if notes is KEEP else clean(notes)
    if len(new_notes) > 2000:
        raise ServiceError("备注不超过 2000 字。", field="notes")
    other = find_by_identity(new_name, new_type, number)
    if other is not None and other.id != patient.id:
        raise Conflict("已有另一位患者使用相同的姓名、证件类型与证件号码，不能重复建档。")

    before = audit.snapshot(patient, PATIENT_FIELDS)
    changes: dict = {}
    if crypto.lookup_hash(number) != patient.id_number_hash:
        patient.id_number_enc, patient.id_number_hash = crypto.encrypt(number), crypto.lookup_hash(number)
        patient.id_number_masked = masking.mask_id_number(number)
        # The masked form may look the same: say so explicitly (never the number itself).
        changes["id_number"] = {"before": "（已加密）", "after": "（已更改）"}
    if phone is not KEEP and crypto.lookup_hash(new_phone) != patient.phone_hash:
        patient.phone_enc, patient.phone_hash = crypto.encrypt(new_phone), crypto.lookup_hash(new_phone)
        patient.phone_masked = masking.mask_phone(new_phone)
        changes["phone"] = {"before": "（已加密）", "after": "（已更改）" if new_phone else "（已删除）"}
    patient.name, patient.id_type, patient.gender = new_name, new_type, new_gender
    patient.hospital_no, patient.notes = new_hospital_no, new_notes
    if birth_date is not KEEP:
        patient.birth_date = birth_date
    db.session.flush()
    changes.update(audit.diff(before, audit.snapshot(patient, PATIENT_FIELDS)))
    if changes:
        audit.record("update", "patient", patient.id, label=patient.masked_name, changes=changes)
        if "hospital_no" in changes or "id_number" in changes:
            _attach_waiting_plan_items(patient)
    return patient




def add_handover_note(patient: Patient, *, body: str, to_user_id: int | None = None) -> HandoverNote:
    """A note on the patient; addressed to another case manager, it also reaches them as a notification."""
    from portal.notify.services import notify

    body = clean(body)
    if not body:
        raise ServiceError("请填写交接内容。", field="body")
    if len(body) > 2000:
        raise ServiceError("交接内容不超过 2000 字。", field="body")
    if to_user_id is not None and not is_case_manager(to_user_id):
        raise ServiceError("请选择在岗的个案管理师。", field="to_user_id")
    note = HandoverNote(patient_id=patient.id, to_user_id=to_user_id, body=body)
    db.session.add(note)
    db.session.flush()
    audit.record("create", "handover_note", note.id, label=patient.masked_name,
                 after={"patient_id": patient.id, "to_user_id": to_user_id, "length": len(body)})
    if to_user_id is not None:
        # The body stays in the portal: a push message leaves the hospital's systems.
        notify([to_user_id], "casemgmt", f"患者{patient.masked_name}的交接记录", "有一条交接记录需要您查看。",
               link=f"/casemgmt/patients/{patient.id}#notes")
    return note


# --- caseload and ward coverage ----------------------------------------------------------------------------


def set_ward_coverage(ward_id: int, case_manager_id: int, covered: bool) -> bool:
    """Add or remove a case manager's coverage of a ward; True when something changed."""
    ward = db.session.get(Department, ward_id) if isinstance(ward_id, int) and 0 < ward_id < 2**31 else None
    if ward is None or ward.kind not in ("ward", "department"):
        raise ServiceError("请选择病区。", field="ward_id")
    user = db.session.get(User, case_manager_id) if isinstance(case_manager_id, int) and \
        0 < case_manager_id < 2**31 else None
    if user is None:
        raise ServiceError("请选择个案管理师。", field="case_manager_id")
    existing = db.session.scalar(select(WardCoverage).where(WardCoverage.ward_id == ward.id,
                                                            WardCoverage.case_manager_id == user.id))
    label = f"{ward.name}：{user.display_name}"
    if covered:
        if existing is not None:
            return False
        if not ward.is_active:
            raise ServiceError("该病区已停用。", field="ward_id")
        if not is_case_manager(user.id):
            raise ServiceError("所选人员不是在岗的个案管理师。", field="case_manager_id")
        row = WardCoverage(ward_id=ward.id, case_manager_id=user.id)
        db.session.add(row)
        db.session.flush()
        audit.record("create", "ward_coverage", row.id, label=label,
                     after={"ward_id": ward.id, "case_manager_id": user.id})
        return True
    if existing is None:
        return False
    audit.record("delete", "ward_coverage", existing.id, label=label,
                 before={"ward_id": ward.id, "case_manager_id": user.id})
    db.session.delete(existing)
    db.session.flush()
    return True
