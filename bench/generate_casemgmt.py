"""Case-management data of a realistic size: case managers at the 1:500 norm and two months of work.

Rows are bulk-inserted (the services write an audit record each, which would make generation take
minutes); the shapes are the ones the services produce.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import insert, select

from portal.auth import org, services
from portal.auth.models import Department, Role
from portal.casemgmt.models import (
    TASK_TYPES,
    CareTask,
    Enrolment,
    LedgerEntry,
    Patient,
    SatisfactionSurvey,
    WardCoverage,
)
from portal.casemgmt.pathways import services as pathways
from portal.core import crypto, masking
from portal.core.timeutil import LOCAL_TZ, local_today
from portal.extensions import db

PASSWORD = "Bench#2026ok"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _resident_id(n: int) -> str:
    body = f"330106{1940 + n % 50}{n % 12 + 1:02d}{n % 28 + 1:02d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def generate_casemgmt(managers: int = 20, patients_per_manager: int = 500, days: int = 60,
                      tasks_per_day: int = 40) -> dict:
    rng = random.Random(7)
    today = local_today()
    role = db.session.scalar(select(Role).where(Role.code == "case_manager"))
    division = db.session.scalar(select(Department).where(Department.kind == "division").limit(1))
    if division is None:
        hospital = org.create_department(name="基准医院", code="BH", kind="hospital", parent_id=None)
        division = org.create_department(name="院区0", code="BD0", kind="division", parent_id=hospital.id)
    centre = org.create_department(name="全程管理中心", code="BQC", kind="department", parent_id=division.id)
    users, wards = [], []
    for m in range(managers):
        ward = org.create_department(name=f"病区{m:02d}", code=f"BW{m:02d}", kind="ward", parent_id=centre.id)
        staff = org.create_staff(employee_no=f"BCM{m:03d}", name=f"个管{m:02d}", title="护师", position="",
                                 department_id=centre.id)
        user = services.create_user(login_name=f"bcm{m:02d}", password=PASSWORD, staff_id=staff.id,
                                    wecom_userid=None, role_ids=[role.id])
        user.must_change_password = False
        users.append(user)
        wards.append(ward)
    db.session.flush()
    db.session.execute(insert(WardCoverage), [{"ward_id": w.id, "case_manager_id": u.id}
                                              for w, u in zip(wards, users, strict=True)])
    pathway = pathways.create_pathway(name="基准路径", icd10_prefix="C", package="any")
    version = pathways.publish_version(pathway, [
        {"title": "出院电话随访", "task_type": "phone_followup", "anchor": "discharge", "offset_days": 3,
         "window_days": 2, "recur_every_days": 7, "recur_times": 4, "outcome_fields": "体温"},
    ])
    db.session.commit()

    total = managers * patients_per_manager
    rows = []
    for n in range(total):
        number = _resident_id(n)
        phone = f"139{n:08d}"
        rows.append({"name": f"患者{n:05d}", "id_type": "resident", "id_number_enc": crypto.encrypt(number),
                     "id_number_hash": crypto.lookup_hash(number), "id_number_masked": masking.mask_id_number(number),
                     "phone_enc": crypto.encrypt(phone), "phone_hash": crypto.lookup_hash(phone),
                     "phone_masked": masking.mask_phone(phone), "hospital_no": f"BZY{n:06d}", "gender": "U",
                     "notes": ""})
    db.session.execute(insert(Patient), rows)
    patient_ids = list(db.session.scalars(select(Patient.id).order_by(Patient.id)))
    db.session.execute(insert(Enrolment), [
        {"patient_id": pid, "icd10_code": "C34.1", "disease_name": "肺恶性肿瘤", "tnm_stage": "", "package": "basic",
         "start_date": today - timedelta(days=days + 30), "ward_id": wards[i % managers].id, "bed": f"{i % 60}床",
         "case_manager_id": users[i % managers].id, "pathway_version_id": version.id, "status": "active",
         "close_reason": "", "discharge_date": today - timedelta(days=rng.randint(0, days))}
        for i, pid in enumerate(patient_ids)])
    enrolment_of = dict(db.session.execute(select(Enrolment.patient_id, Enrolment.id)).all())
    db.session.commit()

    task_count = 0
    types = list(TASK_TYPES)
    for back in range(days, -2, -1):
        day = today - timedelta(days=back)
        batch = []
        for m, user in enumerate(users):
            for k in range(tasks_per_day):
                pid = patient_ids[(m + managers * (k + back * tasks_per_day)) % total]
                done = back > 0 or k % 3 == 0
                done_at = datetime.combine(day, time(10, k % 50), LOCAL_TZ).astimezone(UTC)
                batch.append({"due_date": day, "first_due_date": day, "case_manager_id": user.id, "patient_id": pid,
                              "enrolment_id": enrolment_of[pid], "source": "plan", "task_type": types[k % len(types)],
                              "title": TASK_TYPES[types[k % len(types)]], "ward_id": wards[m].id, "bed": f"{k}床",
                              "time_slot": ["morning", "afternoon"][k % 2],
                              "special_needs": ["wheelchair"] if k % 9 == 0 else [], "special_note": "",
                              "outcome_fields": [], "status": "done" if done else "open",
                              "outcome": "reached" if done else None, "outcome_values": {}, "note": "",
                              "completed_at": done_at if done else None,
                              "completed_by_id": user.id if done else None, "reschedule_count": 0,
                              "assigned_by_hand": False, "occurrence": 1})
        db.session.execute(insert(CareTask), batch)
        task_count += len(batch)
    db.session.commit()
    done = db.session.execute(select(CareTask.id, CareTask.patient_id, CareTask.case_manager_id, CareTask.due_date,
                                     CareTask.task_type, CareTask.title, CareTask.ward_id, CareTask.enrolment_id)
                              .where(CareTask.status == "done")).all()
    for start in range(0, len(done), 5000):
        db.session.execute(insert(LedgerEntry), [
            {"service_date": r.due_date, "patient_id": r.patient_id, "enrolment_id": r.enrolment_id,
             "case_manager_id": r.case_manager_id, "task_id": r.id, "task_type": r.task_type, "title": r.title,
             "outcome": "reached", "icd10_code": "C34.1", "disease_name": "肺恶性肿瘤", "ward_id": r.ward_id,
             "note": ""} for r in done[start:start + 5000]])
        db.session.execute(insert(SatisfactionSurvey), [
            {"patient_id": r.patient_id, "task_id": r.id, "survey_month": r.due_date.replace(day=1),
             "timeliness": 4 + r.id % 2, "effectiveness": 5, "attitude": 3 + r.id % 3, "comment": ""}
            for r in done[start:start + 5000] if r.id % 10 == 0])
    db.session.commit()
    return {"case_managers": managers, "patients": total, "tasks": task_count, "ledger": len(done)}
