"""Checking a submission as a whole: one bad item refuses all of it, with every problem listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, or_, select

from portal.core import crypto, masking
from portal.core.service import ServiceError, clean
from portal.extensions import db

from ..models import TASK_TYPES, TIME_SLOTS, Enrolment, Patient, Plan, PlanItem
from ..patients.services import find_by_refs
from .clock import check_plan_date
from .parsing import (
    LIMITS,
    parse_code,
    parse_special_needs,
    parse_text,
    parse_ward,
    special_needs_hint,
    stable_external_id,
    stored_ref,
)

MAX_ITEMS = 3000
MAX_PROBLEMS_IN_MESSAGE = 10


@dataclass
class Problem:
    """One thing wrong with one item of a submission."""

    index: int | None  # 1-based position in the submission
    external_id: str
    field: str | None
    message: str

    @property
    def where(self) -> str:
        if self.index is None:
            return ""
        ident = f"（项目编号 {self.external_id}）" if self.external_id else ""
        return f"第 {self.index} 项{ident}"


class PlanError(ServiceError):
    """The submission was refused as a whole; ``problems`` lists every item at fault."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        if len(problems) == 1 and problems[0].index in (None, 1):
            message = problems[0].message
        else:
            shown = "；".join(f"{p.where}：{p.message.rstrip('。')}" if p.where else p.message.rstrip("。")
                             for p in problems[:MAX_PROBLEMS_IN_MESSAGE])
            rest = len(problems) - MAX_PROBLEMS_IN_MESSAGE
            more = f"；另有 {rest} 处" if rest > 0 else ""
            message = f"计划有 {len(problems)} 处问题，没有写入任何数据：{shown}{more}。"
        super().__init__(message, field=problems[0].field if len(problems) == 1 else None)


class PlanItems:
    """The plan's items by external id, read as asked: an Excel row checks one item, not the whole plan."""

    def __init__(self, plan: Plan | None):
        self.plan = plan
        self.known: dict[str, PlanItem | None] = {}
        self.complete = False

    def get(self, external_id: str) -> PlanItem | None:
        if self.plan is None or not external_id:
            return None
        if external_id not in self.known and not self.complete:
            self.known[external_id] = db.session.scalar(select(PlanItem).where(
                PlanItem.plan_id == self.plan.id, PlanItem.external_id == external_id))
        return self.known.get(external_id)

    def prefetch(self, external_ids: set[str]) -> None:
        """Read many items in a few queries (a plan from HIS names hundreds at once)."""
        wanted = sorted(i for i in external_ids if i and i not in self.known)
        if self.plan is None or self.complete or not wanted:
            return
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found = {item.external_id: item for item in db.session.scalars(select(PlanItem).where(
                PlanItem.plan_id == self.plan.id, PlanItem.external_id.in_(chunk)))}
            for external_id in chunk:
                self.known[external_id] = found.get(external_id)

    def add(self, item: PlanItem) -> None:
        self.known[item.external_id] = item

    def all(self) -> list[PlanItem]:
        if self.plan is not None and not self.complete:
            for item in db.session.scalars(select(PlanItem).where(PlanItem.plan_id == self.plan.id)):
                self.known[item.external_id] = item
            self.complete = True
        return [i for i in self.known.values() if i is not None]

    def clashing(self, patient_ids: set[int], ref_hashes: set[str]) -> list[PlanItem]:
        """Active items of the plan for these patients (the duplicate rule needs no more of the plan)."""
        if self.plan is None or not (patient_ids or ref_hashes):
            return []
        who = []
        if patient_ids:
            who.append(PlanItem.patient_id.in_(sorted(patient_ids)))
        if ref_hashes:
            who.append(and_(PlanItem.patient_id.is_(None), PlanItem.patient_ref_hash.in_(sorted(ref_hashes))))
        found = db.session.scalars(select(PlanItem).where(PlanItem.plan_id == self.plan.id,
                                                          PlanItem.is_cancelled.is_(False), or_(*who))).all()
        for item in found:
            self.known.setdefault(item.external_id, item)
        return list(found)


def _normalise(plan_date: date, raw: dict, existing: PlanItems,
               wards: dict | None = None) -> tuple[dict, list[tuple[str, str]]]:
    """One item as the form, Excel or HIS gives it -> clean values, or the problems with it."""
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, dict):
        return {}, [(None, "项目格式不正确")]
    values = {name: parse_text(raw, name, problems) for name in LIMITS}
    task_type = parse_code(raw.get("task_type"), TASK_TYPES)
    if task_type is None:
        problems.append(("task_type", f"服务项目“{str(raw.get('task_type') or '')[:20]}”无效，应为："
                                      f"{'、'.join(TASK_TYPES.values())}" if raw.get("task_type")
                         else "请选择服务项目"))
    slot = parse_code(raw.get("time_slot") or "any", TIME_SLOTS)
    if slot is None:
        problems.append(("time_slot", f"时段“{str(raw.get('time_slot'))[:20]}”无效，"
                                      f"应为：{'、'.join(TIME_SLOTS.values())}"))
    needs_raw = raw.get("special_needs")
    if needs_raw is not None and not isinstance(needs_raw, (str, list, tuple)):
        problems.append(("special_needs", "特殊需求应为列表或以顿号分隔的文字"))
        needs_raw = None
    needs, unknown_needs = parse_special_needs(needs_raw)
    if unknown_needs:
        problems.append(("special_needs", f"未知的特殊需求“{'、'.join(w[:20] for w in unknown_needs[:5])}”，"
                                          f"可选：{special_needs_hint()}"))
    ward_id, ward_problem = parse_ward(raw.get("ward_id", raw.get("ward")), wards)
    if ward_problem:
        problems.append(("ward_id", ward_problem))
    ref = values.pop("patient")
    external_id = values.pop("external_id")
    current = existing.get(external_id) if external_id else None
    if not ref and current is None and not any(f == "patient" for f, _ in problems):
        problems.append(("patient", "请填写患者的住院号或证件号码"))
    if problems:
        return {}, problems
    if not external_id:
        external_id = stable_external_id(plan_date, ref, task_type, slot)
        current = existing.get(external_id)
    out = {"external_id": external_id, "task_type": task_type, "time_slot": slot, "special_needs": needs,
           "ward_id": ward_id, **values}
    if ref:
        out.update(ref=ref, patient_ref=stored_ref(ref), patient_ref_hash=crypto.lookup_hash(ref))
    else:  # revising an item without naming the patient again: it keeps its patient
        out.update(ref=None, patient_ref=current.patient_ref, patient_ref_hash=current.patient_ref_hash,
                   patient_id=current.patient_id)
    if not out["patient_name"] and current is not None and out["patient_ref_hash"] == current.patient_ref_hash:
        out["patient_name"] = current.patient_name
    return out, []


def closed_patients(patient_ids: set[int]) -> set[int]:
    """Patients without an active enrolment whose last enrolment is closed (discharged and closed)."""
    if not patient_ids:
        return set()
    last: dict[int, str] = {}
    ids = sorted(patient_ids)
    for start in range(0, len(ids), 500):
        rows = db.session.execute(select(Enrolment.patient_id, Enrolment.status).where(
            Enrolment.patient_id.in_(ids[start:start + 500])).order_by(Enrolment.patient_id, Enrolment.id))
        for patient_id, status in rows:
            if last.get(patient_id) != "active":
                last[patient_id] = status
    return {pid for pid, status in last.items() if status == "closed"}


def closed_message(who: str) -> str:
    return f"患者{who}已出院结案（没有在管的入组），不能下达服务计划；如需继续服务，请先重新入组"


def _patient_key(values: dict) -> tuple:
    return ("patient", values["patient_id"]) if values.get("patient_id") else ("ref", values.get("patient_ref_hash"))


def _describe(values: dict, patient: Patient | None = None) -> str:
    if patient is not None:
        ref = values.get("patient_ref") or patient.hospital_no or patient.id_number_masked
        return f"{patient.masked_name}（{ref}）"
    name = masking.mask_name(values.get("patient_name") or "")
    return f"{name}（{values.get('patient_ref')}）" if name else str(values.get("patient_ref"))


def check_submission(plan_date: date, raws: list, existing: PlanItems, replace: bool,
           adding: bool = False) -> list[dict]:
    """Every item checked, together; PlanError with all the problems if any."""
    problems: list[Problem] = []
    checked: list[tuple[int, dict]] = []
    seen_ids: dict[str, int] = {}
    wards: dict = {}  # a plan names the same few wards many times
    existing.prefetch({clean(str(raw.get("external_id") or "")) for raw in raws if isinstance(raw, dict)})
    for index, raw in enumerate(raws, start=1):
        values, found = _normalise(plan_date, raw, existing, wards)
        given_id = clean(str(raw.get("external_id") or "")) if isinstance(raw, dict) else ""
        for name, message in found:
            problems.append(Problem(index, given_id, name, message))
        if found:
            continue
        ext = values["external_id"]
        if ext in seen_ids:
            problems.append(Problem(index, ext, "external_id",
                                    f"项目编号 {ext} 与第 {seen_ids[ext]} 项重复：同一项目在一次提交中只能出现一次"))
            continue
        seen_ids[ext] = index
        current = existing.get(ext)
        if adding and current is not None and not current.is_cancelled:
            problems.append(Problem(index, ext, "task_type",
                                    f"计划中已有该项目（{ext}）：同一患者、同一服务项目、同一时段只能有一项；请修改已有的项目"))
            continue
        checked.append((index, values))
    # Patients: the same rule as patients.find_by_ref (hospital number or ID number, exactly one match).
    cache = find_by_refs({values["ref"] for _, values in checked if values["ref"]})
    for _, values in checked:
        if values["ref"]:
            patient = cache[values["ref"]]
            current = existing.get(values["external_id"])
            if patient is None and current is not None and current.patient_ref_hash == values["patient_ref_hash"]:
                values["patient_id"] = current.patient_id  # attached by hand earlier: keep it
            else:
                values["patient_id"] = patient.id if patient else None
            if patient is not None and patient.hospital_no \
                    and crypto.normalise(values["ref"]) == crypto.normalise(patient.hospital_no):
                # A hospital number is shown as it is, as on every patient page, whichever way the item came
                # (one that looks like a passport number, ZY2026003, was masked on some entries before).
                values["patient_ref"] = patient.hospital_no
    closed = closed_patients({v["patient_id"] for _, v in checked if v.get("patient_id")})
    patients = {p.id: p for p in cache.values() if p is not None}
    slots: dict[tuple, int] = {}
    for index, values in checked:
        pid = values.get("patient_id")
        if pid in closed:
            who = _describe(values, patients.get(pid) or db.session.get(Patient, pid))
            problems.append(Problem(index, values["external_id"], "patient", closed_message(who)))
            continue
        key = (_patient_key(values), values["task_type"], values["time_slot"])
        if key in slots:
            problems.append(Problem(index, values["external_id"], "task_type",
                                    f"与第 {slots[key]} 项重复：同一患者、同一服务项目"
                                    f"（{TASK_TYPES[values['task_type']]}）、同一时段"
                                    f"（{TIME_SLOTS[values['time_slot']]}）只能有一项"))
            continue
        slots[key] = index
    if not replace:
        submitted = {v["external_id"] for _, v in checked}
        patient_ids = {v["patient_id"] for _, v in checked if v.get("patient_id")}
        ref_hashes = {v["patient_ref_hash"] for _, v in checked if not v.get("patient_id") and v["patient_ref_hash"]}
        for item in existing.clashing(patient_ids, ref_hashes):
            if item.is_cancelled or item.external_id in submitted:
                continue
            key = (_patient_key(_identity(item)), item.task_type, item.time_slot)
            if key in slots:
                index = slots[key]
                ext = next(v["external_id"] for i, v in checked if i == index)
                problems.append(Problem(index, ext, "task_type",
                                        f"与计划中已有的项目 {item.external_id} 重复：同一患者、同一服务项目"
                                        f"（{item.task_type_label}）、同一时段（{TIME_SLOTS.get(item.time_slot, '')}）"
                                        "只能有一项；请修改那一项，或先取消它"))
    if problems:
        problems.sort(key=lambda p: p.index or 0)
        raise PlanError(problems)
    return [values for _, values in checked]


def _identity(item: PlanItem) -> dict:
    return {"patient_id": item.patient_id, "patient_ref_hash": item.patient_ref_hash}


def check_items(plan_date: date, raws: list[dict], now: datetime | None = None) -> list[Problem]:
    """What submit_plan would refuse, without writing anything (the Excel preview shows it per row)."""
    try:
        check_plan_date(plan_date, now)
    except ServiceError as error:
        return [Problem(None, "", "plan_date", error.message)]
    plan = db.session.scalar(select(Plan).where(Plan.plan_date == plan_date))
    try:
        check_submission(plan_date, raws, PlanItems(plan), replace=True)
    except PlanError as error:
        return error.problems
    return []
