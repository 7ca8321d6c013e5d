"""Patients (real-name triple, encrypted ID and phone numbers) and their enrolment under management."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from portal.auth.models import Department, Role, Staff, User, user_roles
from portal.core import audit, crypto, masking
from portal.core.service import Conflict, ServiceError, clean
from portal.extensions import db

from . import queries
from .models import (
    GENDERS,
    ID_TYPES,
    PACKAGE_MONTHS,
    PACKAGES,
    CareTask,
    Enrolment,
    HandoverNote,
    LedgerEntry,
    Pathway,
    PathwayStep,
    PathwayVersion,
    Patient,
    WardCoverage,
)

audit.register_entity("patient", "患者")
audit.register_entity("enrolment", "入组")
audit.register_entity("handover_note", "交接记录")
audit.register_entity("ward_coverage", "病区覆盖")

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
    return patient


# --- the patient list --------------------------------------------------------------------------------------

PATIENT_STATES = {"active": "管理中", "closed": "已结案", "none": "未入组"}
_active = aliased(Enrolment, name="active_enrolment")
PATIENT_SORTS = {"created": Patient.id, "name": Patient.name, "hospital_no": Patient.hospital_no,
                 "start_date": _active.start_date}


@dataclass
class PatientFilters:
    q: str = ""
    status: str = ""  # a key of PATIENT_STATES
    case_manager_id: int | None = None
    ward_id: int | None = None


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def patients_query(filters: PatientFilters, user, sort_key: str = "created", descending: bool = True) -> Select:
    """Patients the user may see, filtered; the active enrolment is joined (at most one per patient)."""
    stmt = (select(Patient).outerjoin(_active, and_(_active.patient_id == Patient.id, _active.status == "active"))
            .options(selectinload(Patient.enrolments).selectinload(Enrolment.case_manager)))
    stmt = queries.scope_patients(stmt, Patient.id, user)
    if filters.q:
        # Exact: hospital number, full ID number or phone (through the keyed hash); otherwise a name prefix.
        hashed = crypto.lookup_hash(filters.q)
        phone_hash = crypto.lookup_hash(crypto.normalise(filters.q).replace("-", ""))
        stmt = stmt.where(or_(Patient.hospital_no == filters.q, Patient.id_number_hash == hashed,
                              Patient.phone_hash == phone_hash,
                              Patient.name.like(_like_prefix(filters.q), escape="\\")))
    if filters.status == "active":
        stmt = stmt.where(_active.id.is_not(None))
    elif filters.status == "closed":
        stmt = stmt.where(_active.id.is_(None), Patient.enrolments.any())
    elif filters.status == "none":
        stmt = stmt.where(~Patient.enrolments.any())
    if filters.case_manager_id:
        stmt = stmt.where(_active.case_manager_id == filters.case_manager_id)
    if filters.ward_id:
        stmt = stmt.where(_active.ward_id == filters.ward_id)
    column = PATIENT_SORTS[sort_key]
    return stmt.order_by(column.desc() if descending else column.asc(), Patient.id.desc() if descending
                         else Patient.id.asc())


def case_managers(include_ids: tuple[int, ...] = ()) -> list[User]:
    """Active case managers by employee number (and any users named in include_ids, e.g. a former manager)."""
    from portal.auth.queries import active_user_ids_with_roles

    ids = set(active_user_ids_with_roles(("case_manager",))) | {i for i in include_ids if i}
    if not ids:
        return []
    return list(db.session.scalars(select(User).outerjoin(Staff, User.staff_id == Staff.id)
                                   .where(User.id.in_(ids)).order_by(Staff.employee_no, User.login_name)))


def wards(include_ids: tuple[int, ...] = ()) -> list[Department]:
    """Wards and departments in use, in tree order: where an enrolled patient can lie."""
    from portal.auth.org import department_tree

    return [d for d in department_tree(include_inactive=True)
            if d.kind in ("ward", "department") and (d.is_active or d.id in include_ids)]


# --- the patient view --------------------------------------------------------------------------------------

@dataclass
class StepProgress:
    """One occurrence of a pathway step for an enrolment, and where it stands."""

    step: PathwayStep
    occurrence: int | None
    due: date | None
    window_end: date | None
    task: CareTask | None
    label: str
    state: str  # badge state: ok, warn, bad, off, wait

    @property
    def title(self) -> str:
        if self.occurrence is None or self.step.occurrences == 1:
            return self.step.title
        return f"{self.step.title}（第 {self.occurrence} 次）"


def pathway_progress(enrolment: Enrolment, today: date) -> list[StepProgress]:
    """Every step occurrence of the enrolment's pathway version, with its task where one was made."""
    from .models import ANCHORS
    from .tasks import step_occurrences

    if enrolment.pathway_version is None:
        return []
    made = {(t.pathway_step_id, t.occurrence): t for t in db.session.scalars(
        select(CareTask).where(CareTask.enrolment_id == enrolment.id, CareTask.pathway_step_id.is_not(None)))}
    rows = []
    for step in enrolment.pathway_version.steps:
        occurrences = step_occurrences(step, enrolment)
        if not occurrences:
            missing = enrolment.anchor_date(step.anchor) is None
            label = f"待定（尚无{ANCHORS.get(step.anchor, '')}日期）" if missing else "不在服务期内"
            rows.append(StepProgress(step, None, None, None, None, label, "off"))
            continue
        for occurrence, due, window_end in occurrences:
            task = made.get((step.id, occurrence))
            if task is not None:
                if task.status == "done":
                    label, state = f"已完成：{task.outcome_label}", "ok"
                elif task.status == "cancelled":
                    label, state = "已取消", "off"
                elif task.is_overdue(today):
                    label, state = "已逾期", "bad"
                else:
                    label, state = "待完成", "wait"
            elif due > today:
                label, state = "未到期", "off"
            elif window_end < today:
                label, state = "未执行（已过时间窗）", "bad"
            else:
                label, state = "待生成任务", "warn"
            rows.append(StepProgress(step, occurrence, due, window_end, task, label, state))
    return rows


def special_needs(patient_id: int, today: date, days: int = 30) -> tuple[list[str], list[str]]:
    """Special needs and notes from the patient's open tasks and those of the last `days` days."""
    labels: list[str] = []
    notes: list[str] = []
    since = today - timedelta(days=days)
    for task in db.session.scalars(select(CareTask).where(
            CareTask.patient_id == patient_id, or_(CareTask.status == "open", CareTask.due_date >= since))
            .order_by(CareTask.due_date.desc()).limit(200)):
        labels += [x for x in task.special_need_labels if x not in labels]
        if task.special_note and task.special_note not in notes:
            notes.append(task.special_note)
    return labels, notes


def services_query(patient_id: int) -> Select:
    """The patient's past services (the ledger), newest first."""
    return (select(LedgerEntry).where(LedgerEntry.patient_id == patient_id)
            .order_by(LedgerEntry.service_date.desc(), LedgerEntry.id.desc()))


def handover_notes(patient_id: int, limit: int = 50) -> list[HandoverNote]:
    return list(db.session.scalars(select(HandoverNote).where(HandoverNote.patient_id == patient_id)
                                   .order_by(HandoverNote.id.desc()).limit(limit)))


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

@dataclass
class CaseloadRow:
    user: User
    active: int
    norm: int
    wards: list[str]

    @property
    def ratio(self) -> float:
        return self.active / self.norm if self.norm else 0.0

    @property
    def state(self) -> str:
        if self.active > self.norm:
            return "bad"
        return "warn" if self.ratio >= 0.9 else "ok"

    @property
    def state_label(self) -> str:
        return {"bad": "超出配比", "warn": "接近上限", "ok": "正常"}[self.state]


def caseload_rows(norm: int) -> list[CaseloadRow]:
    """Every active case manager with their active caseload against the staffing norm, heaviest first."""
    managers = case_managers()
    counts = caseloads([m.id for m in managers]) if managers else {}
    covered: dict[int, list[str]] = {}
    for user_id, name in db.session.execute(
            select(WardCoverage.case_manager_id, Department.name)
            .join(Department, Department.id == WardCoverage.ward_id).order_by(Department.name)):
        covered.setdefault(user_id, []).append(name)
    rows = [CaseloadRow(m, counts.get(m.id, 0), norm, covered.get(m.id, [])) for m in managers]
    return sorted(rows, key=lambda r: (-r.active, r.user.display_name))


def unassigned_active() -> int:
    return db.session.scalar(select(func.count()).select_from(Enrolment).where(
        Enrolment.status == "active", Enrolment.case_manager_id.is_(None)))


def coverage_by_ward() -> list[tuple[Department, list[WardCoverage]]]:
    """Each ward in use (and any covered department) with the case managers covering it."""
    rows = db.session.scalars(select(WardCoverage).options(selectinload(WardCoverage.case_manager))).all()
    by_ward: dict[int, list[WardCoverage]] = {}
    for row in rows:
        by_ward.setdefault(row.ward_id, []).append(row)
    out = []
    for dept in wards(include_ids=tuple(by_ward)):
        if dept.kind == "ward" or dept.id in by_ward:
            out.append((dept, sorted(by_ward.get(dept.id, []), key=lambda c: c.case_manager.display_name)))
    return out


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
