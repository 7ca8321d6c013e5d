"""Patients (real-name triple, encrypted ID and phone numbers) and their enrolment under management."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, or_, select

from portal.auth.models import Department, Role, User, user_roles
from portal.core import audit, crypto, masking
from portal.core.service import Conflict, ServiceError, clean
from portal.extensions import db

from .models import GENDERS, ID_TYPES, PACKAGE_MONTHS, PACKAGES, Enrolment, Pathway, PathwayVersion, Patient

audit.register_entity("patient", "患者")
audit.register_entity("enrolment", "入组")

ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
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


def create_patient(*, name: str, id_type: str, id_number: str, phone: str | None = None,
                   hospital_no: str | None = None, gender: str = "U", birth_date: date | None = None,
                   notes: str = "") -> Patient:
    name = clean(name)
    if not name or len(name) > 50:
        raise ServiceError("请填写患者姓名（50 字以内）。", field="name")
    number = check_id_number(id_type, id_number)
    phone_value = check_phone(phone)
    if gender not in GENDERS:
        raise ServiceError("性别无效。", field="gender")
    if find_by_identity(name, id_type, number) is not None:
        raise Conflict("该患者已建档（姓名、证件类型与证件号码相同）。")
    hospital_no = clean(hospital_no) or None
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
    return patient


def reveal(patient: Patient, field: str) -> str:
    """The full ID or phone number for a user allowed to see it; every reveal is audited."""
    if field not in ("id_number", "phone"):
        raise ServiceError("只能查看证件号码或电话。")
    value = crypto.decrypt(patient.id_number_enc if field == "id_number" else patient.phone_enc) or ""
    audit.record("reveal", "patient", patient.id, label=patient.masked_name,
                 changes={"field": "证件号码" if field == "id_number" else "电话"})
    return value


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
    from .models import CareTask

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
