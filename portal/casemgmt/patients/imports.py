"""Patients and their enrolment as an Excel import (患者入组): new rows register and enrol, known ones correct.

A patient is known by the real-name triple (证件类型 + 证件号码 + 姓名). For a known patient under
management the row corrects the active enrolment's key dates, ward, bed and case manager (blank cells
leave a value as it is); the disease and package of a running enrolment are not changed by an import.

Rows are written in bulk (`_write_many`): patients and enrolments inserted a chunk at a time, corrections in one
UPDATE by primary key, and the import audited by the framework's one summary record (patients named by masked
name and ID number there, never in full). The service's checks ran in the preview (`_validate`); what they
would look up per row (pathways, the case managers' status) is read once per chunk.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update

from portal.auth.models import Department, Role, Staff, User, user_roles
from portal.core import crypto, masking
from portal.core.actor import current_actor
from portal.core.service import ServiceError, clean
from portal.core.timeutil import utcnow
from portal.extensions import db
from portal.io.bulk import insert_rows
from portal.io.columns import CellError, ImportColumn, parse_text, register_lookup
from portal.io.imports import ImportType, lookup_table, normalise_identity, register, register_table_lookup
from portal.io.reader import RowResult

from ..models import GENDERS, ID_TYPES, Enrolment, Patient
from . import services as patients

PACKAGE_WORDS = {"basic": ("basic", "基础", "基础服务包", "基础服务包（免费）", "基础服务包(免费)", "免费"),
                 "custom": ("custom", "定制", "定制服务包")}


def parse_id_number(value: Any) -> str:
    # Normalised here so that the duplicate key sees 11010…x and 11010…X as one number.
    return crypto.normalise(parse_text(value, 40))


def parse_package(value: Any) -> str:
    text = parse_text(value, 40)
    for code, words in PACKAGE_WORDS.items():
        if text in words or text.lower() == code:
            return code
    raise CellError("应为“基础服务包”或“定制服务包”")


def case_managers() -> dict[str, int]:
    """Active case managers by employee number (工号): one query."""
    stmt = (select(Staff.employee_no, User.id).join(User, User.staff_id == Staff.id)
            .join(user_roles, user_roles.c.user_id == User.id).join(Role, Role.id == user_roles.c.role_id)
            .where(Role.code == "case_manager", User.is_active_flag))
    return {number: user_id for number, user_id in db.session.execute(stmt)}


def case_manager_by_employee_no(value: Any, table: dict[str, int]) -> int:
    """A case manager named by employee number (工号): the user linked to that staff record."""
    text = parse_text(value, 32)
    user_id = table.get(text)
    if user_id is None:
        folded = {number.upper(): uid for number, uid in table.items()}
        user_id = folded.get("".join(text.split()).upper())
    if user_id is None:
        raise CellError(f"找不到工号为“{text}”的在岗个案管理师")
    return user_id


def enrolment_wards() -> set[int]:
    """Departments an enrolment may name as its ward (active wards and departments): one query."""
    stmt = select(Department.id).where(Department.is_active, Department.kind.in_(("ward", "department")))
    return set(db.session.scalars(stmt))


def _no_cell(value: Any, table: Any) -> Any:
    raise LookupError("cm_enrolment_wards is a table for row checks, not a column kind")


register_lookup("cm_id_number", parse_id_number)
register_table_lookup("cm_enrolment_wards", enrolment_wards, _no_cell)
register_lookup("cm_package", parse_package)
register_table_lookup("case_manager", case_managers, case_manager_by_employee_no)

COLUMNS = [
    ImportColumn("name", "姓名", required=True, aliases=("患者姓名",), max_length=50),
    ImportColumn("id_type", "证件类型", kind="enum", required=True, choices=ID_TYPES),
    ImportColumn("id_number", "证件号码", kind="cm_id_number", required=True, aliases=("身份证号", "证件号"),
                 help="居民身份证 18 位，最后一位可为 X"),
    ImportColumn("phone", "电话", max_length=20, aliases=("手机", "手机号", "联系电话")),
    ImportColumn("hospital_no", "住院号", max_length=32, aliases=("病案号",)),
    ImportColumn("gender", "性别", kind="enum", choices=GENDERS, help="居民身份证可不填"),
    ImportColumn("icd10_code", "ICD-10编码", required=True, max_length=16, aliases=("ICD10", "ICD编码", "疾病编码")),
    ImportColumn("disease_name", "疾病名称", required=True, max_length=100, aliases=("诊断",)),
    ImportColumn("tnm_stage", "TNM分期", max_length=32),
    ImportColumn("package", "服务包", kind="cm_package", help="基础服务包（免费）或定制服务包；留空为基础服务包"),
    ImportColumn("package_months", "服务期限(月)", kind="int", aliases=("服务期限", "服务期限（月）"),
                 help="定制服务包填 1、3、6 或 12"),
    ImportColumn("start_date", "入组日期", kind="date", required=True),
    ImportColumn("ward_id", "病区", kind="department", help="病区名称或代码"),
    ImportColumn("bed", "床号", max_length=16),
    ImportColumn("case_manager_id", "个案管理师", kind="case_manager", aliases=("个案管理师工号",),
                 help="个案管理师的工号"),
    ImportColumn("admission_date", "入院日期", kind="date"),
    ImportColumn("surgery_date", "手术日期", kind="date"),
    ImportColumn("discharge_date", "出院日期", kind="date"),
]
HEADERS = {c.name: c.header for c in COLUMNS}
ENROLMENT_KEYS = ("icd10_code", "disease_name", "tnm_stage", "package", "package_months", "start_date", "ward_id",
                  "bed", "case_manager_id", "admission_date", "surgery_date", "discharge_date")
CORRECTABLE = ("ward_id", "bed", "case_manager_id", "admission_date", "surgery_date", "discharge_date")
DATES = ("start_date", "admission_date", "surgery_date", "discharge_date")


def _enrolment_values(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: values.get(k) for k in ENROLMENT_KEYS}
    out["package"] = out["package"] or "basic"
    out["tnm_stage"], out["bed"] = out["tnm_stage"] or "", out["bed"] or ""
    return out


def _validate(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The service's own checks, run before anything is written, each pinned to its column."""
    errors = []
    for key in DATES:
        day = values.get(key)
        if day is not None and not patients.FIRST_DAY <= day <= patients.LAST_DAY:
            errors.append((HEADERS[key], patients.OUT_OF_RANGE))
    if errors:
        return errors
    # The case manager column only names active case managers (its lookup): not asked again per row; the ward
    # is checked against the file's one list of wards, not by a query per row.
    checks = (lambda: patients.check_id_number(values["id_type"], values["id_number"]),
              lambda: patients.check_phone(values.get("phone")),
              lambda: _check_ward(values.get("ward_id"), lookup_table("cm_enrolment_wards")),
              lambda: patients._check_enrolment({**_enrolment_values(values), "case_manager_id": None,
                                                 "ward_id": None}))
    for check in checks:
        try:
            check()
        except ServiceError as error:
            errors.append((HEADERS.get(error.field or "", "证件号码"), error.message))
    return errors


def _check_rows(rows: list[RowResult]) -> None:
    """住院号 that already belong to another patient: one query for the whole file."""
    numbers = sorted({row.values["hospital_no"] for row in rows if row.values.get("hospital_no")})
    owners: dict[str, Patient] = {}
    for start in range(0, len(numbers), 500):
        for patient in db.session.scalars(select(Patient).where(Patient.hospital_no.in_(numbers[start:start + 500]))):
            owners[patient.hospital_no] = patient
    for row in rows:
        values = row.values
        owner = owners.get(values.get("hospital_no") or "")
        if owner is not None and (owner.id_type, owner.id_number_hash, normalise_identity(owner.name)) != (
                values["id_type"], crypto.lookup_hash(values["id_number"]), values["name"]):
            row.errors.append((HEADERS["hospital_no"], values["hospital_no"],
                               f"住院号 {values['hospital_no']} 已属于另一位患者"))


def _find(keys: list[tuple]) -> dict[tuple, Patient]:
    by_hash: dict[str, list[tuple]] = {}
    for key in keys:
        by_hash.setdefault(crypto.lookup_hash(key[1]), []).append(key)
    found = {}
    hashes = list(by_hash)
    for start in range(0, len(hashes), 500):
        for patient in db.session.scalars(select(Patient).where(Patient.id_number_hash.in_(hashes[start:start + 500]))):
            for key in by_hash.get(patient.id_number_hash, []):
                # Names compare as normalised: "欧阳 娜娜" entered by hand is the "欧阳娜娜" of a file.
                if (key[0], key[2]) == (patient.id_type, normalise_identity(patient.name)):
                    found[key] = patient
    return found


def _audit_key(values: dict[str, Any]) -> str:
    """A row as the import's audit record names it: masked, as every screen shows a patient."""
    return f"{masking.mask_name(values['name'])} {masking.mask_id_number(values['id_number'])}"


class _Pathways:
    """The current pathway version for each (ICD-10 code, package), asked once per pair."""

    def __init__(self):
        self.found: dict[tuple[str, str], int | None] = {}

    def __call__(self, code: str, package: str) -> int | None:
        if (code, package) not in self.found:
            version = patients.pathway_for(code, package)
            self.found[(code, package)] = version.id if version else None
        return self.found[(code, package)]


def _active_managers() -> set[int]:
    return set(lookup_table("case_manager").values())


def _check_ward(ward_id: int | None, wards: set[int]) -> None:
    if ward_id is not None and ward_id not in wards:
        raise ServiceError("请选择在用的病区。", field="ward_id")


def _enrolment_data(values: dict[str, Any], managers: set[int], wards: set[int]) -> dict[str, Any]:
    """The service's checks of an enrolment (as `patients.enrol` makes them), the case manager and the ward
    against the active ones read once."""
    manager, ward = values.get("case_manager_id"), values.get("ward_id")
    if manager is not None and manager not in managers:
        raise ServiceError("所选人员不是在岗的个案管理师。", field="case_manager_id")
    _check_ward(ward, wards)
    data = patients._check_enrolment({**values, "case_manager_id": None, "ward_id": None})
    data["case_manager_id"], data["ward_id"] = manager, ward
    return data


def _new_patient(values: dict[str, Any], now, author) -> dict[str, Any]:
    """The patients row `patients.create_patient` would write (checks made by the preview, repeated here)."""
    number = patients.check_id_number(values["id_type"], values["id_number"])
    phone = patients.check_phone(values.get("phone"))
    gender, birth_date = values.get("gender") or "U", None
    if values["id_type"] == "resident":
        birth_date, sex = patients.resident_facts(number)
        gender = sex if gender == "U" else gender
    return {"name": clean(values["name"]), "id_type": values["id_type"], "id_number_enc": crypto.encrypt(number),
            "id_number_hash": crypto.lookup_hash(number), "id_number_masked": masking.mask_id_number(number),
            "phone_enc": crypto.encrypt(phone), "phone_hash": crypto.lookup_hash(phone),
            "phone_masked": masking.mask_phone(phone), "hospital_no": clean(values.get("hospital_no")) or None,
            "gender": gender, "birth_date": birth_date, "notes": "", "created_at": now, "updated_at": now,
            "created_by_id": author}


def _write_many(new: list[dict[str, Any]], corrections: list[tuple[dict[str, Any], Patient]]) -> list[tuple]:
    """Register and enrol the new patients, enrol or correct the known ones; the keys of the corrected rows."""
    now, author = utcnow(), current_actor().user_id
    pathway, managers, wards = _Pathways(), _active_managers(), lookup_table("cm_enrolment_wards")
    stamp = {"created_at": now, "updated_at": now, "created_by_id": author}
    enrolments: list[dict[str, Any]] = []
    created: dict[str, int] = {}  # hash of an ID or hospital number -> new patient, for waiting plan items
    if new:
        rows = [_new_patient(values, now, author) for values in new]
        insert_rows(Patient.__table__, rows)  # COPY on PostgreSQL (RETURNING would go row by row)
        ids = _new_ids(rows)
        for values, row in zip(new, rows, strict=True):
            patient_id = ids[(row["id_type"], row["id_number_hash"], row["name"])]
            data = _enrolment_data(_enrolment_values(values), managers, wards)
            enrolments.append({"patient_id": patient_id, **data, "status": "active", "closed_on": None,
                               "close_reason": "", "pathway_version_id": pathway(data["icd10_code"], data["package"]),
                               **stamp})
            for number in (row["id_number_hash"], crypto.lookup_hash(row["hospital_no"])):
                if number:
                    created.setdefault(number, patient_id)
    changes, changed = [], []
    current = _enrolments_of([patient.id for _, patient in corrections])
    for values, patient in corrections:
        held = current.get(patient.id, [])
        active = next((e for e in held if e.status == "active"), None)
        enrolment = _enrolment_values(values)
        if active is None:
            # A closed enrolment that started the same day is this row, imported before: do not re-open it.
            if any(e.start_date == enrolment["start_date"] for e in held):
                continue
            data = _enrolment_data(enrolment, managers, wards)
            enrolments.append({"patient_id": patient.id, **data, "status": "active", "closed_on": None,
                               "close_reason": "", "pathway_version_id": pathway(data["icd10_code"], data["package"]),
                               **stamp})
            changed.append(ENROLMENT_IMPORT.key_of(values))
            continue
        wanted = {k: values[k] for k in CORRECTABLE if values.get(k) not in (None, "")}
        if all(getattr(active, k) == v for k, v in wanted.items()):
            continue
        data = _enrolment_data({**{k: getattr(active, k) for k in patients.ENROLMENT_FIELDS}, **wanted}, managers,
                               wards)
        changes.append({"enrolment_id": active.id, **data, "updated_at": now})
        changed.append(ENROLMENT_IMPORT.key_of(values))
    if enrolments:
        insert_rows(Enrolment.__table__, enrolments)
    if changes:
        table = Enrolment.__table__
        names = [name for name in changes[0] if name != "enrolment_id"]
        db.session.execute(update(table).where(table.c.id == bindparam("enrolment_id"))
                           .values({name: bindparam(name) for name in names}), changes)
    for _, patient in corrections:
        db.session.expire(patient)  # its enrolments were written around the ORM
    for held in current.values():
        for enrolment in held:
            db.session.expire(enrolment)
    if created:
        from ..plans.matching import rematch_new_patients

        rematch_new_patients(created)
    return changed


def _new_ids(rows: list[dict[str, Any]]) -> dict[tuple, int]:
    """The ids of the patients just inserted, by their identity (unique: uq_patients_identity)."""
    hashes = sorted({row["id_number_hash"] for row in rows})
    found: dict[tuple, int] = {}
    for start in range(0, len(hashes), 500):
        stmt = (select(Patient.id, Patient.id_type, Patient.id_number_hash, Patient.name)
                .where(Patient.id_number_hash.in_(hashes[start:start + 500])))
        for patient_id, id_type, number_hash, name in db.session.execute(stmt):
            found[(id_type, number_hash, name)] = patient_id
    return found


def _enrolments_of(patient_ids: list[int]) -> dict[int, list[Enrolment]]:
    found: dict[int, list[Enrolment]] = {}
    for start in range(0, len(patient_ids), 500):
        chunk = patient_ids[start:start + 500]
        for enrolment in db.session.scalars(select(Enrolment).where(Enrolment.patient_id.in_(chunk))):
            found.setdefault(enrolment.patient_id, []).append(enrolment)
    return found


ENROLMENT_IMPORT = register(ImportType(
    code="cm_enrolment", label="患者入组", columns=COLUMNS, key=("id_type", "id_number", "name"),
    find_existing=_find, write_many=_write_many, audit_key=_audit_key, validate_row=_validate,
    check_rows=_check_rows,
    unique_keys=(("hospital_no",),), codes=("id_number",), compact=("hospital_no",), max_rows=20_000,
    permission="casemgmt.enrol", personal_data=True,
    example=("张三", "居民身份证", "330106197001010027", "13800000000", "Z0012345", "男", "C34.1", "肺恶性肿瘤",
             "T2N0M0", "定制服务包", 6, "2026-11-02", "胸外科病区", "12", "E0001", "2026-11-02", "2026-11-05",
             "2026-11-12")))
