"""Reading plans: the list of plans, a plan's items with search and filters, counts and choices."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from portal.auth.models import Department
from portal.core import masking, reveal
from portal.extensions import db

from ..models import CareTask, Patient, Plan, PlanItem

# The item list's status filter (items_query).
ITEM_STATES = {"active": "有效", "unknown": "患者未匹配", "late": "迟报", "cancelled": "已取消"}


def item_label(item: PlanItem) -> str:
    name = masking.mask_name(item.patient_name) or item.patient_ref
    return f"{item.plan.plan_date:%Y-%m-%d} {item.external_id} {name} {item.task_type_label}"[:255]


def active_in_period(start: date, end: date):
    return (select(PlanItem).join(Plan, Plan.id == PlanItem.plan_id)
            .where(Plan.plan_date >= start, Plan.plan_date <= end, PlanItem.is_cancelled.is_(False)))


def count_period(start: date, end: date) -> int:
    """Items that cancelling the period would withdraw."""
    return db.session.scalar(select(func.count()).select_from(active_in_period(start, end).subquery()))


def item_search(plan: Plan, q: str, user) -> reveal.SearchTerm:
    """The plan's search box under the reveal rule (portal.core.reveal): a full ID number only for holders of
    casemgmt.reveal, each item it finds audited; RevealRefused for anyone else."""
    from .. import REVEAL

    def shown_in_clear(text: str) -> bool:  # an item id, bed or hospital number the page shows as typed
        return db.session.scalar(select(PlanItem.id).where(PlanItem.plan_id == plan.id, or_(
            PlanItem.external_id == text, PlanItem.patient_ref == text, PlanItem.bed == text)).limit(1)) is not None

    term = reveal.search_term(q, may_reveal=REVEAL.code in user.principal.permissions,
                              permission_label=REVEAL.label, shown_in_clear=shown_in_clear)
    if term.hashes:
        found = db.session.scalars(select(PlanItem).where(
            PlanItem.plan_id == plan.id, PlanItem.patient_ref_hash.in_(term.hashes)).order_by(PlanItem.id).limit(50))
        reveal.record_reveal_by_search("plan_item", [(i.id, item_label(i), reveal.ID_NUMBER) for i in found], term)
    return term


def items_query(plan: Plan, q: str = "", status: str = "", ward_id: int | None = None,
                term: reveal.SearchTerm | None = None) -> Select:
    """A plan's items for its page and export: search by item id, masked name, patient reference or bed; by the
    full ID number only through a term of `item_search` that allows it."""
    stmt = select(PlanItem).where(PlanItem.plan_id == plan.id).order_by(PlanItem.is_cancelled, PlanItem.id)
    if q:
        conditions = [PlanItem.external_id.icontains(q, autoescape=True),
                      PlanItem.patient_ref.icontains(q, autoescape=True), PlanItem.bed == q]
        name = reveal.masked_name_condition(PlanItem.patient_name, q)
        if name is not None:
            conditions.append(name)
        if term is not None and term.text == q and term.hashes:
            conditions.append(PlanItem.patient_ref_hash.in_(term.hashes))
        stmt = stmt.where(or_(*conditions))
    if status == "active":
        stmt = stmt.where(PlanItem.is_cancelled.is_(False))
    elif status == "unknown":
        stmt = stmt.where(PlanItem.is_cancelled.is_(False), PlanItem.patient_id.is_(None))
    elif status == "late":
        stmt = stmt.where(PlanItem.is_late.is_(True))
    elif status == "cancelled":
        stmt = stmt.where(PlanItem.is_cancelled.is_(True))
    if ward_id:
        stmt = stmt.where(PlanItem.ward_id == ward_id)
    return stmt


def plan_for(day: date) -> Plan | None:
    return db.session.scalar(select(Plan).where(Plan.plan_date == day))


def plans_query(start: date | None, end: date | None, late: bool) -> Select:
    """Plans by service date, newest first, each with its active and unmatched item counts."""
    active = (select(func.count()).select_from(PlanItem)
              .where(PlanItem.plan_id == Plan.id, PlanItem.is_cancelled.is_(False)).scalar_subquery())
    unknown = (select(func.count()).select_from(PlanItem)
               .where(PlanItem.plan_id == Plan.id, PlanItem.is_cancelled.is_(False), PlanItem.patient_id.is_(None))
               .scalar_subquery())
    stmt = select(Plan, active.label("item_count"), unknown.label("unknown_count")).order_by(Plan.plan_date.desc())
    if start:
        stmt = stmt.where(Plan.plan_date >= start)
    if end:
        stmt = stmt.where(Plan.plan_date <= end)
    if late:
        stmt = stmt.where(Plan.is_late.is_(True))
    return stmt


def inpatient_unit():
    """Where a plan item may take place: an active ward, or an active department that has an active ward
    (an inpatient department). Offices such as 信息科 or 医务科 are departments without wards."""
    child = aliased(Department)
    has_ward = select(child.id).where(child.parent_id == Department.id, child.kind == "ward",
                                      child.is_active).exists()
    return and_(Department.is_active, or_(Department.kind == "ward", and_(Department.kind == "department", has_ward)))


def ward_choices() -> list[tuple[int, str]]:
    """Wards (then inpatient departments) a plan item may name: the same rule as a submission's check."""
    rows = db.session.execute(select(Department.id, Department.name).where(inpatient_unit())
                              .order_by(Department.kind.desc(), Department.name)).all()
    return [(r.id, r.name) for r in rows]


def task_states(item_ids: list[int]) -> dict[int, str]:
    """The state of the task each plan item became (items not on a list yet are absent)."""
    if not item_ids:
        return {}
    return dict(db.session.execute(select(CareTask.plan_item_id, CareTask.status).where(
        CareTask.plan_item_id.in_(item_ids))).all())


def active_count(plan: Plan | None) -> int:
    if plan is None:
        return 0
    return db.session.scalar(select(func.count()).select_from(PlanItem).where(
        and_(PlanItem.plan_id == plan.id, PlanItem.is_cancelled.is_(False))))


def item_rows_query(plan_id: int) -> Select:
    """A plan's items for the HIS API, ordered by id: the item, its patient's name, its ward's code and name, and
    the state of the task it became (at most one: plan_item_id is unique on tasks)."""
    task_status = (select(CareTask.status).where(CareTask.plan_item_id == PlanItem.id)
                   .correlate(PlanItem).scalar_subquery())
    return (select(PlanItem.external_id, PlanItem.patient_ref, PlanItem.patient_id, PlanItem.patient_name,
                   Patient.name.label("known_name"), PlanItem.task_type, PlanItem.service_item,
                   Department.code.label("ward_code"), Department.name.label("ward_name"), PlanItem.bed,
                   PlanItem.time_slot, PlanItem.special_needs, PlanItem.special_note, PlanItem.note,
                   PlanItem.is_cancelled, PlanItem.is_late, PlanItem.source, PlanItem.submitted_at,
                   task_status.label("task_status"))
            .outerjoin(Patient, Patient.id == PlanItem.patient_id)
            .outerjoin(Department, Department.id == PlanItem.ward_id)
            .where(PlanItem.plan_id == plan_id).order_by(PlanItem.id))


def item_rows(plan_id: int) -> list:
    """The items as plain rows (one query, no ORM object per item): what the HIS API reads back."""
    return db.session.execute(item_rows_query(plan_id)).all()
