"""Case management over the whole history: case managers covering the wards, patients and their enrolments,
the care tasks of every day (most done, some declined, unreached, cancelled; today's partly open), a ledger
row and an audit record per completion, monthly surveys, and tomorrow's plan waiting for the 17:05 build.
"""

from __future__ import annotations

from datetime import timedelta

from portal.auth.models import Staff, User, user_roles
from portal.auth.seed import ensure_roles
from portal.casemgmt.models import (
    TASK_TYPES,
    CareTask,
    Enrolment,
    LedgerEntry,
    Patient,
    Plan,
    PlanItem,
    SatisfactionSurvey,
    WardCoverage,
)
from portal.casemgmt.pathways import services as pathways
from portal.core import crypto, masking

from .generate import person
from .kit import PASSWORD, Context

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
DISEASES = (("C34.1", "肺恶性肿瘤"), ("C16.9", "胃恶性肿瘤"), ("C18.7", "结肠恶性肿瘤"), ("C50.9", "乳房恶性肿瘤"),
            ("I21.9", "急性心肌梗死"), ("I63.9", "脑梗死"), ("E11.9", "2型糖尿病"), ("N18.5", "慢性肾脏病5期"))
TYPES = list(TASK_TYPES)
CHUNK_DAYS = 30


def _resident_id(n: int) -> str:
    body = f"330106{1940 + n % 50}{n % 12 + 1:02d}{n % 28 + 1:02d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def generate_casemgmt(ctx: Context) -> dict:
    from portal.auth.passwords import hash_password

    s, rng = ctx.scale, ctx.rng
    role = ensure_roles()["case_manager"]
    centre = ctx.departments["BQC"]
    start = ctx.day(s.days)
    staff_ids = ctx.bulk(Staff, ("employee_no", "name", "title", "position", "department_id", "is_active"),
                         [(f"BCM{m:03d}", person(70_000 + m), "护师", "个案管理师", centre, True)
                          for m in range(s.case_managers)])
    hashed = hash_password(PASSWORD)
    managers = ctx.bulk(User, ("login_name", "password_hash", "staff_id", "is_active", "must_change_password",
                               "password_changed_at", "created_at"),
                        [(f"bcm{m:02d}", hashed, sid, True, False, ctx.now, ctx.at(start, 8))
                         for m, sid in enumerate(staff_ids)])
    ctx.bulk(user_roles, ("user_id", "role_id"), [(uid, role.id) for uid in managers], ids=False)
    for m, uid in enumerate(managers):
        ctx.users[f"bcm{m:02d}"] = uid
        ctx.names[uid] = person(70_000 + m)
    ctx.ids["case_managers"] = managers
    wards = ctx.wards
    ward_of = {uid: [w for i, w in enumerate(wards) if i % len(managers) == m] for m, uid in enumerate(managers)}
    ctx.bulk(WardCoverage, ("ward_id", "case_manager_id"), [(w, uid) for uid, ws in ward_of.items() for w in ws])

    # The pathway through the service (audited like any other change).
    pathway = pathways.create_pathway(name="基准路径", icd10_prefix="C", package="any")
    version = pathways.publish_version(pathway, [
        {"title": "出院电话随访", "task_type": "phone_followup", "anchor": "discharge", "offset_days": 3,
         "window_days": 2, "recur_every_days": 7, "recur_times": 4, "outcome_fields": "体温"},
    ])
    ctx.audit.flush()

    patients, enrolments = [], []
    for n in range(s.patients):
        number, phone = _resident_id(n), f"139{n:08d}"
        patients.append((f"患者{person(n)}", "resident", crypto.encrypt(number), crypto.lookup_hash(number),
                         masking.mask_id_number(number), crypto.encrypt(phone), crypto.lookup_hash(phone),
                         masking.mask_phone(phone), f"BZY{n:06d}", "MF"[n % 2], ""))
    patient_ids = ctx.bulk(Patient, ("name", "id_type", "id_number_enc", "id_number_hash", "id_number_masked",
                                     "phone_enc", "phone_hash", "phone_masked", "hospital_no", "gender", "notes"),
                           patients)
    manager_of, ward_of_patient, disease_of = {}, {}, {}
    for i, pid in enumerate(patient_ids):
        uid = managers[i % len(managers)]
        ward = ward_of[uid][i // len(managers) % len(ward_of[uid])] if ward_of[uid] else None
        code, disease = DISEASES[i % len(DISEASES)]
        begun = start + timedelta(days=i * s.days // len(patient_ids))
        closed = i % 7 == 0
        manager_of[pid], ward_of_patient[pid], disease_of[pid] = uid, ward, (code, disease)
        enrolments.append((pid, code, disease, "", "basic", begun, ward, f"{i % 60 + 1}床", uid, version.id,
                           "closed" if closed else "active", begun + timedelta(days=90) if closed else None,
                           "随访结束" if closed else "", begun + timedelta(days=rng.randrange(3, 20))))
    enrolment_ids = ctx.bulk(Enrolment, ("patient_id", "icd10_code", "disease_name", "tnm_stage", "package",
                                         "start_date", "ward_id", "bed", "case_manager_id", "pathway_version_id",
                                         "status", "closed_on", "close_reason", "discharge_date"), enrolments)
    enrolment_of = dict(zip(patient_ids, enrolment_ids, strict=True))
    by_manager = {uid: [pid for pid in patient_ids if manager_of[pid] == uid] for uid in managers}

    per_day = max(1, s.tasks // (s.days + 1))
    task_cols = ("due_date", "first_due_date", "window_end", "case_manager_id", "patient_id", "enrolment_id", "source",
                 "task_type", "title", "ward_id", "bed", "time_slot", "special_needs", "special_note",
                 "outcome_fields", "status", "outcome", "outcome_values", "note", "completed_at", "completed_by_id",
                 "reschedule_count", "assigned_by_hand", "pathway_step_id", "occurrence", "created_at", "updated_at")
    ledger_cols = ("service_date", "patient_id", "enrolment_id", "case_manager_id", "task_id", "task_type", "title",
                   "outcome", "icd10_code", "disease_name", "ward_id", "note", "created_at", "updated_at")
    tasks = ledger = surveys = 0
    sources = ("plan",) * 12 + ("pathway",) * 7 + ("adhoc",)
    # Pathway tasks name their step, each enrolment's occurrences numbered in order (the build's unique key).
    step_id = version.steps[0].id
    occurrences: dict[int, int] = {}
    for chunk_start in range(s.days, -1, -CHUNK_DAYS):
        rows, meta = [], []
        for back in range(chunk_start, max(chunk_start - CHUNK_DAYS, -1), -1):
            day = ctx.day(back)
            created = ctx.at(day - timedelta(days=1), 17, 5)
            for k in range(per_day):
                uid = managers[k % len(managers)]
                mine = by_manager[uid]
                pid = mine[rng.randrange(len(mine))]
                kind = TYPES[k % len(TYPES)]
                roll = rng.random()
                if back == 0:
                    status = "done" if roll < 0.35 else "open"
                elif back <= 2 and roll < 0.04:
                    status = "open"  # overdue
                else:
                    status = ("done" if roll < 0.88 else "declined" if roll < 0.92 else "unreached" if roll < 0.95
                              else "cancelled")
                closed = status in ("done", "declined", "unreached")
                done_at = ctx.at(day, 9 + k % 8, k % 60) if closed else None
                source = sources[k % len(sources)]
                occurrence = 1
                if source == "pathway":
                    occurrence = occurrences[enrolment_of[pid]] = occurrences.get(enrolment_of[pid], 0) + 1
                rows.append((day, day, day + timedelta(days=2) if source == "pathway" else None, uid, pid,
                             enrolment_of[pid], source, kind, TASK_TYPES[kind], ward_of_patient[pid],
                             f"{k % 60 + 1}床", ("morning", "afternoon")[k % 2],
                             ["wheelchair"] if k % 23 == 0 else [], "", [], status,
                             {"done": "reached", "declined": "declined", "unreached": "not_reached"}.get(status),
                             {}, "", done_at, uid if closed else None, 1 if k % 31 == 0 else 0, False,
                             step_id if source == "pathway" else None, occurrence, created, done_at or created))
                meta.append((status, day, uid, pid, kind, done_at))
        ids = ctx.bulk(CareTask, task_cols, rows)
        tasks += len(ids)
        ledger_rows, survey_rows = [], []
        for tid, (status, day, uid, pid, kind, done_at) in zip(ids, meta, strict=True):
            if status != "done":
                if status != "open":
                    ctx.audit.add(done_at or ctx.at(day, 18), ctx.user(uid), "care_task", tid, "complete",
                                  label=TASK_TYPES[kind], changes={"status": {"before": "open", "after": status}})
                continue
            code, disease = disease_of[pid]
            ledger_rows.append((day, pid, enrolment_of[pid], uid, tid, kind, TASK_TYPES[kind], "reached", code,
                                disease, ward_of_patient[pid], "", done_at, done_at))
            ctx.audit.add(done_at, ctx.user(uid), "care_task", tid, "complete", label=TASK_TYPES[kind],
                          changes={"status": {"before": "open", "after": "done"},
                                   "outcome": {"before": None, "after": "reached"}})
            if tid % 10 == 0:
                survey_rows.append((pid, tid, day.replace(day=1), 4 + tid % 2, 5, 3 + tid % 3, ""))
        ctx.bulk(LedgerEntry, ledger_cols, ledger_rows)
        ctx.bulk(SatisfactionSurvey, ("patient_id", "task_id", "survey_month", "timeliness", "effectiveness",
                                      "attitude", "comment"), survey_rows)
        ledger += len(ledger_rows)
        surveys += len(survey_rows)

    # Tomorrow's plan, as the HIS posts it before 17:00: the 17:05 build turns it into task lists.
    tomorrow = ctx.day(-1)
    submitted = ctx.at(ctx.today, 16, 30)
    plan_id = ctx.bulk(Plan, ("plan_date", "first_submitted_at", "last_submitted_at", "is_late", "revision"),
                       [(tomorrow, submitted, submitted, False, 1)])[0]
    items = []
    for n in range(s.plan_items):
        index = (n * 7919) % len(patient_ids)
        if index % 7 == 0:  # every seventh enrolment is closed: the plan names patients in care
            index = index + 1 if index + 1 < len(patient_ids) else index - 1
        pid = patient_ids[index]
        kind = TYPES[n % len(TYPES)]
        items.append((plan_id, f"H{tomorrow:%Y%m%d}{n:05d}", pid, f"BZY{index:06d}", kind,
                      TASK_TYPES[kind],
                      ward_of_patient[pid], f"{n % 60 + 1}床", ("morning", "afternoon")[n % 2],
                      ["wheelchair"] if n % 17 == 0 else [], "", "", "api", False, False, submitted))
    ctx.bulk(PlanItem, ("plan_id", "external_id", "patient_id", "patient_ref", "task_type", "service_item", "ward_id",
                        "bed", "time_slot", "special_needs", "special_note", "note", "source", "is_late",
                        "is_cancelled", "submitted_at"), items)
    # The ledger went in by bulk insert, past the services that keep its monthly summaries: compute them once.
    from portal.casemgmt.ledger import summary

    summary.rebuild()
    return {"case managers": len(managers), "patients": len(patient_ids), "tasks": tasks, "ledger": ledger,
            "surveys": surveys, "plan items": len(items)}
