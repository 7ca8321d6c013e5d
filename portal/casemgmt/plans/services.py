"""The next-day plan (次日服务计划): the one path by which plan items arrive, from the form, Excel or HIS.

The hospital issues the plan for day D+1 before the cutoff (PLAN_CUTOFF, local time, default 17:00)
on day D. A submission is checked as a whole first (one bad item refuses all of it, nothing is
written), then items are upserted by their external id:

* an item identical to what is stored stays untouched; a submission that changes nothing changes
  nothing at all (no revision, no timestamps, no audit row), so HIS may resend freely;
* every submission that changes something is one revision of the plan; an Excel import counts
  as one submission however many rows it writes (``batch=True``);
* whatever is created, changed or cancelled after the cutoff is flagged late, on the item and on
  the plan (the flags stay: the monthly report counts them);
* items are never deleted: ``replace`` and cancelling set ``is_cancelled``;
* an unknown patient is kept with ``patient_id`` NULL and listed for the issuer; the reference is
  stored masked when it looks like an ID number, with its keyed hash for matching it later.

After any change the task lists already built for that day are brought up to date
(``tasks.apply_plan_revision``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from portal.core import audit
from portal.core.service import Conflict, ServiceError, atomic, clean
from portal.extensions import db

from ..models import PLAN_SOURCES, Plan, PlanItem
from ..tasks import services as tasks
from .clock import as_utc, check_plan_date, date_window, is_late
from .parsing import next_form_ids
from .queries import active_in_period, item_label
from .validation import MAX_ITEMS, PlanItems, check_submission

audit.ACTIONS.setdefault("cancel", "取消")



COMPARED = ("patient_id", "patient_ref_hash", "patient_name", "task_type", "service_item", "ward_id", "bed",
            "time_slot", "special_needs", "special_note", "note")
AUDITED = ("external_id", "patient_id", "patient_ref", "patient_name", "task_type", "service_item", "ward_id", "bed",
           "time_slot", "special_needs", "special_note", "note", "is_cancelled", "is_late")


@dataclass
class SubmitResult:
    plan_date: date
    plan: Plan | None
    late: bool  # the submission arrived after the cutoff
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    cancelled: int = 0
    items: list[PlanItem] = field(default_factory=list)  # the submitted items, in submission order
    updated_ids: list[str] = field(default_factory=list)  # external ids of the items this submission changed

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.cancelled)

    @property
    def unknown(self) -> list[PlanItem]:
        """Submitted items whose patient is not (yet) known."""
        return [i for i in self.items if i.patient_id is None and not i.is_cancelled]


# ---------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------


def _batch_state(now: datetime) -> dict:
    """Per transaction: an Excel import is one submission (one revision, one clock) however many rows it writes."""
    session = db.session()  # the scoped registry's current Session
    session.connection()  # make sure the transaction has begun: it identifies the batch
    transaction = session.get_transaction()
    state = session.info.get("plan_batch")
    if state is None or state["transaction"] is not transaction:
        state = {"transaction": transaction, "now": now, "revised": set(), "before": {}}
        session.info["plan_batch"] = state
    return state


def _plan_for_update(plan_date: date) -> Plan | None:
    # Row lock on PostgreSQL: two submissions for the same date are applied one after the other.
    return db.session.scalar(select(Plan).where(Plan.plan_date == plan_date).with_for_update())


def _new_plan(plan_date: date, now: datetime) -> Plan:
    try:
        with db.session.begin_nested():
            plan = Plan(plan_date=plan_date, first_submitted_at=now, last_submitted_at=now, revision=1,
                        submission_digest=None)
            db.session.add(plan)
            db.session.flush()
    except IntegrityError:
        # Another submission created it a moment ago: continue on theirs.
        plan = _plan_for_update(plan_date)
        if plan is None:
            raise
    return plan




def _remember(state: dict | None, item: PlanItem) -> None:
    if state is not None and item.id not in state["before"]:
        state["before"][item.id] = ({k: getattr(item, k) for k in COMPARED}, item.is_cancelled, item.is_late,
                                    item.submitted_at, item.source)


def _restore_if_unchanged(state: dict | None, item: PlanItem) -> bool:
    """Within one import, an item cancelled by "replace" and written back as it was is as it was."""
    if state is None or item.id not in state["before"]:
        return False
    compared, cancelled, late, submitted_at, source = state["before"][item.id]
    if cancelled or item.is_cancelled or any(getattr(item, k) != v for k, v in compared.items()):
        return False
    item.is_late, item.submitted_at, item.source = late, submitted_at, source
    return True


def _audit_plan(plan: Plan, action: str, source: str, late: bool, **counts: int) -> None:
    audit.record(action, "plan", plan.id, label=f"{plan.plan_date:%Y-%m-%d} 次日服务计划",
                 changes={"source": PLAN_SOURCES.get(source, source), "revision": plan.revision, "late": late,
                          **counts})


def _revise(plan: Plan, now: datetime, late: bool, state: dict | None, created_plan: bool) -> None:
    if not created_plan and (state is None or plan.id not in state["revised"]):
        plan.revision += 1
    if plan.submission_digest is not None:
        plan.submission_digest = None  # the plan changed: an earlier submission no longer describes it
    if state is not None:
        state["revised"].add(plan.id)
    plan.last_submitted_at = now
    plan.is_late = plan.is_late or late


def submission_digest(body: dict) -> str:
    """The fingerprint of an API submission as sent (items and replace), independent of key order."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def unchanged_submission(plan_date: date, digest: str, count: int, *, now: datetime | None = None,
                         ) -> SubmitResult | None:
    """An API submission identical to the last one applied to the plan, with nothing changed since: its answer
    ("unchanged", nothing written) from one query, without locking the plan or checking every item again.

    None when the plan was changed since (every change clears the digest), when that submission left a patient
    unknown (no digest is kept then), or on any other body: the caller submits as usual.
    """
    now = as_utc(now)
    check_plan_date(plan_date, now)
    plan = db.session.scalar(select(Plan).where(Plan.plan_date == plan_date, Plan.submission_digest == digest))
    if plan is None:
        return None
    return SubmitResult(plan_date, plan, is_late(plan_date, now), unchanged=count)


def submit_plan(plan_date: date, items: list[dict], *, source: str, replace: bool = False,
                now: datetime | None = None, batch: bool = False, adding: bool = False,
                summary: bool = False, digest: str | None = None) -> SubmitResult:
    """Submit (or revise) the plan for `plan_date`: all-or-nothing, idempotent by item id.

    Items: {"external_id", "patient" (hospital number or ID number), "patient_name", "task_type" (code or
    label), "service_item", "ward_id" or "ward" (id, code or name), "bed", "time_slot" (code or label),
    "special_needs" (codes/labels, or text such as "轮椅、禁食"), "special_note", "note"}. Without an
    external id one is derived from the date, patient, service and slot. ``replace`` cancels the date's
    items that are not in the submission; ``adding`` (the form's "add") refuses ids the plan already has.
    Raises PlanError listing every problem; nothing is written then. ``summary`` (a bulk import) writes the
    new items in one flush and leaves the items' audit to the import's one summary record of changed keys;
    the plan's own record is written as always. ``digest`` (the API's submission_digest of the body) is kept on
    the plan when every submitted item is now stored as sent with its patient known (see unchanged_submission).
    """
    if source not in PLAN_SOURCES:
        raise ValueError(f"unknown plan source {source}")
    now = as_utc(now)
    state = _batch_state(now) if batch else None
    if state is not None:
        now = state["now"]
    check_plan_date(plan_date, now)
    if not isinstance(items, list):
        raise ServiceError("计划项目应为列表。")
    if not items and not replace:
        raise ServiceError("计划中没有任何项目。")
    if len(items) > MAX_ITEMS:
        raise ServiceError(f"一次最多提交 {MAX_ITEMS} 项（本次 {len(items)} 项），请分批提交。")
    plan = _plan_for_update(plan_date)
    existing = PlanItems(plan)
    if replace:
        existing.all()
    if adding:  # entered by hand: a readable id instead of the derived one (clashes are found by patient and slot)
        blank = [raw for raw in items if isinstance(raw, dict) and not clean(str(raw.get("external_id") or ""))]
        for raw, external_id in zip(blank, next_form_ids(plan_date, plan, len(blank)), strict=True):
            raw["external_id"] = external_id
    checked = check_submission(plan_date, items, existing, replace, adding)
    late = is_late(plan_date, now)
    result = SubmitResult(plan_date, plan, late)
    created_plan = False
    if plan is None and checked:
        plan = result.plan = existing.plan = _new_plan(plan_date, now)
        plan.is_late = late
        created_plan = True
        existing.complete = True  # a new plan has no items: none is looked up
    fresh: list[dict] = []  # summary mode: new items written in one INSERT after the loop
    for values in checked:
        wanted = {k: values.get(k) for k in COMPARED}
        item = existing.get(values["external_id"])
        if item is None and summary:
            fresh.append({"plan_id": plan.id, "external_id": values["external_id"],
                          "patient_ref": values["patient_ref"], "source": source, "is_late": late,
                          "is_cancelled": False, "submitted_at": now, **wanted})
            result.created += 1
            continue
        if item is None:
            item = PlanItem(plan_id=plan.id, external_id=values["external_id"], patient_ref=values["patient_ref"],
                            source=source, is_late=late, is_cancelled=False, submitted_at=now, **wanted)
            db.session.add(item)
            db.session.flush()
            audit.record("create", "plan_item", item.id, label=item_label(item), after=audit.snapshot(item, AUDITED))
            existing.add(item)
            result.created += 1
        elif not item.is_cancelled and all(getattr(item, k) == v for k, v in wanted.items()):
            result.unchanged += 1
        else:
            _remember(state, item)
            before = None if summary else audit.snapshot(item, AUDITED)
            for key, value in wanted.items():
                setattr(item, key, value)
            item.patient_ref, item.is_cancelled = values["patient_ref"], False
            item.source, item.submitted_at, item.is_late = source, now, item.is_late or late
            if _restore_if_unchanged(state, item):
                result.unchanged += 1
            else:
                result.updated += 1
                result.updated_ids.append(item.external_id)
            if not summary:
                audit.record("update", "plan_item", item.id, label=item_label(item), before=before,
                             after=audit.snapshot(item, AUDITED))
        result.items.append(item)
    if fresh:
        db.session.flush()
        db.session.execute(insert(PlanItem.__table__), fresh)
        wanted_ids = [row["external_id"] for row in fresh]
        for start in range(0, len(wanted_ids), 500):
            for item in db.session.scalars(select(PlanItem).where(
                    PlanItem.plan_id == plan.id, PlanItem.external_id.in_(wanted_ids[start:start + 500]))):
                existing.add(item)
                result.items.append(item)
    if replace and plan is not None:
        submitted = {v["external_id"] for v in checked}
        for item in existing.all():
            if item.external_id not in submitted and not item.is_cancelled:
                _cancel(item, now, late, state)
                result.cancelled += 1
    if result.changed or created_plan:
        first_in_batch = state is None or plan.id not in state["revised"]
        _revise(plan, now, late, state, created_plan)
        if state is None:
            _audit_plan(plan, "create" if created_plan else "update", source, late, created=result.created,
                        updated=result.updated, cancelled=result.cancelled)
        elif first_in_batch:  # one record per plan for a whole import: its items have their own records
            _audit_plan(plan, "create" if created_plan else "update", source, late)
        db.session.flush()
        tasks.apply_plan_revision(plan)
    if digest is not None and plan is not None and not batch:
        known = not result.unknown
        if plan.submission_digest != (digest if known else None):
            plan.submission_digest = digest if known else None
    return result


def _cancel(item: PlanItem, now: datetime, late: bool, state: dict | None) -> None:
    _remember(state, item)
    before = audit.snapshot(item, AUDITED)
    item.is_cancelled, item.submitted_at, item.is_late = True, now, item.is_late or late
    audit.record("cancel", "plan_item", item.id, label=item_label(item), before=before,
                 after=audit.snapshot(item, AUDITED))


@atomic()
def update_item(item: PlanItem, values: dict, *, source: str = "form", now: datetime | None = None) -> SubmitResult:
    """Revise one item (the patient stays unless `values` names another): the same checks as a submission."""
    return submit_plan(item.plan.plan_date, [{**values, "external_id": item.external_id}], source=source, now=now)


def cancel_item(item: PlanItem, *, source: str = "form", now: datetime | None = None) -> PlanItem:
    """Withdraw one item (it is kept, marked cancelled); its task is cancelled if the lists are built."""
    now = as_utc(now)
    plan = item.plan
    check_plan_date(plan.plan_date, now)
    if item.is_cancelled:
        raise Conflict("该项目已取消。")
    late = is_late(plan.plan_date, now)
    _cancel(item, now, late, None)
    _revise(plan, now, late, None, False)
    _audit_plan(plan, "update", source, late, cancelled=1)
    db.session.flush()
    tasks.apply_plan_revision(plan)
    return item


def cancel_period(start: date, end: date, *, source: str = "excel", now: datetime | None = None,
                  batch: bool = False) -> int:
    """Withdraw every item from `start` to `end` ("replace this period"): the dates must still be open."""
    now = as_utc(now)
    state = _batch_state(now) if batch else None
    if state is not None:
        now = state["now"]
    first, _ = date_window(now)
    if start < first:
        raise ServiceError(f"替换期间不能包含 {first:%Y-%m-%d}（明天）以前的日期：已开始或已过去的计划不能再替换。",
                           field="period")
    by_plan: dict[int, list[PlanItem]] = {}
    for item in db.session.scalars(active_in_period(start, end).order_by(PlanItem.id)):
        by_plan.setdefault(item.plan_id, []).append(item)
    count = 0
    for items in by_plan.values():
        plan = items[0].plan
        late = is_late(plan.plan_date, now)
        for item in items:
            _cancel(item, now, late, state)
        count += len(items)
        first_in_batch = state is None or plan.id not in state["revised"]
        _revise(plan, now, late, state, False)
        if first_in_batch:
            _audit_plan(plan, "update", source, late, cancelled=len(items))
        db.session.flush()
        tasks.apply_plan_revision(plan)
    return count
