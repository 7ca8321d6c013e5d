"""Demo case-management data for `make run`: pathways, patients under management, a plan, task lists."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from portal.auth.models import Department, User
from portal.core.timeutil import LOCAL_TZ, local_today, utcnow
from portal.extensions import db

from .models import CareTask, Plan, PlanItem, WardCoverage
from .pathways import services as pathways
from .patients import services as patients
from .tasks import services as tasks

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["建华", "秀兰", "志强", "桂英", "海燕", "国平", "淑珍", "永刚", "丽娟", "文博", "春梅", "德明"]
DISEASES = [("C34.1", "肺上叶恶性肿瘤", "T2N0M0"), ("C16.9", "胃恶性肿瘤", "T3N1M0"),
            ("I21.4", "急性心内膜下心肌梗死", ""), ("I25.1", "动脉硬化性心脏病", ""),
            ("C18.7", "乙状结肠恶性肿瘤", "T2N1M0")]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _resident_id(rng: random.Random) -> str:
    body = f"3301{rng.randint(1, 9):02d}{rng.randint(1940, 1990)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" \
           f"{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def seed(departments: dict[str, Department], users: dict[str, User]) -> None:
    rng = random.Random(20261123)
    today = local_today()
    managers = [users["mating"], users["gaoxue"]]
    wards = [departments["XXGNK-1"], departments["PTWK-1"], departments["GK-1"]]
    for ward, manager in zip(wards, [managers[0], managers[1], managers[1]], strict=True):
        db.session.add(WardCoverage(ward_id=ward.id, case_manager_id=manager.id))
    lung = pathways.create_pathway(name="恶性肿瘤术后全程管理路径", icd10_prefix="C", package="any",
                                   description="肿瘤患者术后随访、复诊与营养管理")
    pathways.publish_version(lung, [
        {"title": "入组宣教", "task_type": "education", "anchor": "enrolment", "offset_days": 0, "window_days": 2},
        {"title": "营养筛查", "task_type": "nutrition_screening", "anchor": "admission", "offset_days": 1,
         "window_days": 1, "outcome_fields": "NRS2002评分"},
        {"title": "陪同出院", "task_type": "accompany_discharge", "anchor": "discharge", "offset_days": 0},
        {"title": "出院电话随访", "task_type": "phone_followup", "anchor": "discharge", "offset_days": 3,
         "window_days": 2, "recur_every_days": 7, "recur_times": 4, "outcome_fields": "体温,伤口情况,疼痛评分"},
        {"title": "复诊提醒", "task_type": "revisit_reminder", "anchor": "discharge", "offset_days": 28,
         "window_days": 3},
    ], note="初版")
    heart = pathways.create_pathway(name="冠心病介入术后管理路径", icd10_prefix="I2", package="any")
    pathways.publish_version(heart, [
        {"title": "用药提醒", "task_type": "medication_reminder", "anchor": "discharge", "offset_days": 1,
         "window_days": 1, "recur_every_days": 7, "recur_times": 8, "outcome_fields": "服药依从性"},
        {"title": "出院电话随访", "task_type": "phone_followup", "anchor": "discharge", "offset_days": 7,
         "window_days": 3, "outcome_fields": "血压,心率"},
    ], note="初版")
    db.session.flush()
    people = []
    for i in range(36):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        patient = patients.create_patient(name=name, id_type="resident", id_number=_resident_id(rng),
                                          phone=f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}",
                                          hospital_no=f"ZY{2026000 + i}", gender=rng.choice("MF"))
        code, disease, tnm = DISEASES[i % len(DISEASES)]
        ward = wards[i % len(wards)]
        admitted = today - timedelta(days=rng.randint(2, 20))
        discharged = admitted + timedelta(days=rng.randint(3, 9))
        patients.enrol(patient, icd10_code=code, disease_name=disease, tnm_stage=tnm,
                       package="custom" if i % 3 == 0 else "basic", package_months=6 if i % 3 == 0 else None,
                       start_date=admitted, ward_id=ward.id, bed=str(10 + i),
                       case_manager_id=managers[i % 2].id if i % 4 else None, admission_date=admitted,
                       surgery_date=admitted + timedelta(days=1) if code.startswith("C") else None,
                       discharge_date=discharged if discharged < today else None)
        people.append((patient, ward, i))
    # Tomorrow's plan as the hospital issues it, and today's, already built into task lists.
    for day in (today, today + timedelta(days=1)):
        now = utcnow()
        plan = Plan(plan_date=day, first_submitted_at=now, last_submitted_at=now)
        db.session.add(plan)
        db.session.flush()
        for patient, ward, i in people[day.day % 5::4][:7]:
            needs = [["wheelchair"], ["fasting"], [], ["interpreter"], [], ["isolation"], []][i % 7]
            db.session.add(PlanItem(plan_id=plan.id, external_id=f"DEMO-{day:%Y%m%d}-{i}", patient_id=patient.id,
                                    patient_ref=patient.hospital_no or "", patient_name=patient.name,
                                    task_type=["accompany_admission", "accompany_discharge", "education"][i % 3],
                                    ward_id=ward.id, bed=str(10 + i), time_slot=["morning", "afternoon"][i % 2],
                                    special_needs=needs, special_note="需家属陪同" if needs else "",
                                    source="form", submitted_at=now))
    db.session.flush()
    _history(today, managers)
    tasks.build_daily_tasks(today - timedelta(days=1))
    tasks.build_daily_tasks(today)


def _history(today, managers: list[User]) -> None:
    """Three weeks of past task lists, most of them done on their day, so the ledger, the monthly report and the
    indicators have something to show; every sixth is left open (overdue, as on a real ward)."""
    for back in range(21, 1, -1):
        tasks.build_daily_tasks(today - timedelta(days=back))
    by_id = {user.id: user for user in managers}
    before = today - timedelta(days=1)
    past = db.session.scalars(select(CareTask).where(CareTask.status == "open", CareTask.due_date < before)
                              .order_by(CareTask.due_date, CareTask.id)).all()
    for n, task in enumerate(past):
        if n % 6 == 5:
            continue
        tasks.complete_task(task, by_id.get(task.case_manager_id, managers[n % 2]), may_assign=True,
                            outcome="declined" if n % 11 == 0 else "reached", score=(5, 4, 5, 3, 5)[n % 5],
                            values={label: "正常" for label in task.outcome_fields or []}, today=task.due_date)
        # Done that morning, not when the demo was built (the timeliness indicators read it).
        day = task.due_date
        done = datetime(day.year, day.month, day.day, 10, n % 60, tzinfo=LOCAL_TZ).astimezone(UTC)
        db.session.execute(update(CareTask).where(CareTask.id == task.id).values(completed_at=done))


def build(demo) -> None:
    """The domain's demo builder (its declaration's ``demo``): runs after the hospital and accounts exist."""
    seed(demo.departments, demo.users)
