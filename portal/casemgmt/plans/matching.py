"""Unknown patients on the plan: listed for the issuer, resolved by hand, or matched when the patient is registered."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import or_, select

from portal.core import audit, crypto
from portal.core.service import Conflict, ServiceError, atomic
from portal.extensions import db

from ..models import Patient, Plan, PlanItem
from ..tasks import services as tasks
from .clock import as_utc, local_day
from .queries import item_label
from .services import AUDITED
from .validation import closed_message, closed_patients


def unknown_items(plan: Plan) -> list[PlanItem]:
    return list(db.session.scalars(select(PlanItem).where(PlanItem.plan_id == plan.id, PlanItem.patient_id.is_(None),
                                                          PlanItem.is_cancelled.is_(False)).order_by(PlanItem.id)))


@atomic()
def resolve_unknown(item: PlanItem, patient: Patient, *, now: datetime | None = None) -> PlanItem:
    """Attach an item whose patient was not found to a patient (picked by the issuer, or matched later).

    This corrects who the item is for; it is not a new submission (no revision, not late).
    """
    now = as_utc(now)
    plan = item.plan
    if plan.plan_date < local_day(now):
        raise ServiceError("该计划日期已过，不能再修改。")
    if item.is_cancelled:
        raise ServiceError("该项目已取消，无需匹配患者。")
    if item.patient_id is not None:
        raise Conflict("该项目的患者已确定。")
    if patient.id in closed_patients({patient.id}):
        raise ServiceError(closed_message(patient.masked_name) + "。", field="ref")
    clash = db.session.scalar(select(PlanItem).where(
        PlanItem.plan_id == plan.id, PlanItem.id != item.id, PlanItem.is_cancelled.is_(False),
        PlanItem.patient_id == patient.id, PlanItem.task_type == item.task_type,
        PlanItem.time_slot == item.time_slot))
    if clash is not None:
        raise ServiceError(f"该患者在计划中已有同一服务项目、同一时段的项目 {clash.external_id}，请取消其中一项。",
                           field="ref")
    before = audit.snapshot(item, AUDITED)
    item.patient_id = patient.id
    if not item.patient_name:
        item.patient_name = patient.name
    db.session.flush()
    audit.record("update", "plan_item", item.id, label=item_label(item), before=before,
                 after=audit.snapshot(item, AUDITED))
    tasks.apply_plan_revision(plan)
    return item


def _match(item: PlanItem) -> Patient | None:
    """The one patient an unknown item names: by the ID number's hash, or by the hospital number kept as given."""
    conditions = []
    if item.patient_ref_hash:
        conditions.append(Patient.id_number_hash == item.patient_ref_hash)
    if item.patient_ref and "*" not in item.patient_ref:  # a masked reference is an ID number, not a hospital one
        conditions.append(Patient.hospital_no == item.patient_ref)
    if not conditions:
        return None
    found = db.session.scalars(select(Patient).where(or_(*conditions)).limit(2)).all()
    return found[0] if len(found) == 1 else None


def rematch_unknown(plan_date: date, *, now: datetime | None = None) -> int:
    """Attach the date's unknown items whose patient has since been created; returns how many were attached."""
    plan = db.session.scalar(select(Plan).where(Plan.plan_date == plan_date))
    if plan is None or plan_date < local_day(now):
        return 0
    matched = 0
    for item in unknown_items(plan):
        patient = _match(item)
        if patient is None:
            continue
        try:
            with db.session.begin_nested():
                resolve_unknown(item, patient, now=now)
        except ServiceError:
            continue  # still listed: the issuer decides
        matched += 1
    return matched


def rematch_patient(patient: Patient, *, now: datetime | None = None) -> int:
    """A patient was just created (or given a hospital number): attach open unknown items that name them."""
    hashes = {h for h in (patient.id_number_hash, crypto.lookup_hash(patient.hospital_no)) if h}
    if not hashes:
        return 0
    items = db.session.scalars(select(PlanItem).join(Plan, Plan.id == PlanItem.plan_id).where(
        PlanItem.patient_id.is_(None), PlanItem.is_cancelled.is_(False), PlanItem.patient_ref_hash.in_(hashes),
        Plan.plan_date >= local_day(now)).order_by(PlanItem.id)).all()
    matched = 0
    for item in items:
        try:
            with db.session.begin_nested():
                resolve_unknown(item, patient, now=now)
        except ServiceError:
            continue
        matched += 1
    return matched


def rematch_new_patients(created: dict[str, int], *, now: datetime | None = None) -> int:
    """`rematch_patient` for many patients at once (an import): one query for the open unknown items naming any
    of them. ``created`` maps the hash of each new patient's ID and hospital numbers to the patient."""
    hashes = sorted(created)
    items: list[PlanItem] = []
    for start in range(0, len(hashes), 500):
        items.extend(db.session.scalars(select(PlanItem).join(Plan, Plan.id == PlanItem.plan_id).where(
            PlanItem.patient_id.is_(None), PlanItem.is_cancelled.is_(False),
            PlanItem.patient_ref_hash.in_(hashes[start:start + 500]), Plan.plan_date >= local_day(now))))
    matched = 0
    for item in sorted(items, key=lambda i: i.id):
        patient = db.session.get(Patient, created[item.patient_ref_hash])
        try:
            with db.session.begin_nested():
                resolve_unknown(item, patient, now=now)
        except ServiceError:
            continue
        matched += 1
    return matched
