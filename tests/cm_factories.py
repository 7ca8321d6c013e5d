"""Case-management factories: patients, enrolments, pathways, wards and case managers, through the services."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import select

from portal.casemgmt.models import Enrolment, Pathway, Patient, Plan, PlanItem, WardCoverage
from portal.casemgmt.pathways import services as pathways
from portal.casemgmt.patients import services as patients
from portal.core.timeutil import utcnow
from portal.extensions import db

from . import factories

_seq = itertools.count(1)
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(serial: int | None = None, birth: str = "19650312") -> str:
    """A valid 18-digit resident ID number (correct check digit), different for each serial."""
    body = f"110105{birth}{(serial if serial is not None else next(_seq)) % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def make_patient(name: str = "张三丰", id_number: str | None = None, phone: str | None = "13812345678",
                 hospital_no: str | None = None, **extra) -> Patient:
    patient = patients.create_patient(name=name, id_type="resident", id_number=id_number or resident_id(),
                                      phone=phone, hospital_no=hospital_no, **extra)
    db.session.commit()
    return patient


def make_case_manager(login: str, department, name: str | None = None):
    return factories.make_user(login, ["case_manager"], department, name=name)


def make_ward(name: str, parent) -> object:
    return factories.make_department(name, "ward", parent)


def cover(ward, *managers) -> None:
    for manager in managers:
        db.session.add(WardCoverage(ward_id=ward.id, case_manager_id=manager.id))
    db.session.commit()


def make_pathway(name: str = "肺癌术后管理路径", icd10_prefix: str = "C34", package: str = "any",
                 steps: list[dict] | None = None) -> Pathway:
    pathway = pathways.create_pathway(name=name, icd10_prefix=icd10_prefix, package=package)
    pathways.publish_version(pathway, steps or [
        {"title": "出院后电话随访", "task_type": "phone_followup", "anchor": "discharge", "offset_days": 1,
         "window_days": 2, "outcome_fields": "体温,伤口情况"},
        {"title": "复诊提醒", "task_type": "revisit_reminder", "anchor": "discharge", "offset_days": 7,
         "window_days": 3},
    ], note="初版")
    db.session.commit()
    return pathway


def enrol(patient: Patient, *, case_manager=None, ward=None, start: date | None = None,
          icd10_code: str = "C34.1", disease_name: str = "肺恶性肿瘤", **dates) -> Enrolment:
    enrolment = patients.enrol(patient, icd10_code=icd10_code, disease_name=disease_name, package="basic",
                               start_date=start or date(2026, 11, 1), ward_id=ward.id if ward else None,
                               bed=dates.pop("bed", ""), case_manager_id=case_manager.id if case_manager else None,
                               **dates)
    db.session.commit()
    return enrolment


def make_plan(day: date, *items: dict, **plan_fields) -> Plan:
    """The plan of a day (made if missing) with these items, written directly as the plan service stores them."""
    now = utcnow()
    plan = db.session.scalar(select(Plan).where(Plan.plan_date == day))
    if plan is None:
        plan = Plan(plan_date=day, first_submitted_at=now, last_submitted_at=now, **plan_fields)
        db.session.add(plan)
        db.session.flush()
    for item in items:
        db.session.add(PlanItem(plan_id=plan.id, submitted_at=now, **{
            "task_type": "accompany_admission", "external_id": f"T{next(_seq)}", **item}))
    db.session.commit()
    return plan


def submit_waiting_items(day: date) -> None:
    """Two plan items naming patients not yet registered: U1 by hospital number H601 (赵六), U2 by the ID number
    resident_id(602) (孙七)."""
    from portal.casemgmt.plans import services as plans

    plans.submit_plan(day, [{"external_id": "U1", "patient": "H601", "patient_name": "赵六",
                             "task_type": "accompany_admission", "time_slot": "morning"},
                            {"external_id": "U2", "patient": resident_id(602), "patient_name": "孙七",
                             "task_type": "accompany_admission", "time_slot": "morning"}], source="api")
    db.session.commit()
