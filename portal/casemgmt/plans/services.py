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
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from portal.auth.models import Department
from portal.core import audit, crypto, masking, reveal
from portal.core.service import Conflict, ServiceError, clean
from portal.core.timeutil import LOCAL_TZ, utcnow
from portal.extensions import db

from ..models import (
    PLAN_SOURCES,
    SPECIAL_NEEDS,
    TASK_TYPES,
    TIME_SLOTS,
    CareTask,
    Enrolment,
    Patient,
    Plan,
    PlanItem,
)
from ..patients.services import find_by_refs
from ..tasks import services as tasks

audit.ACTIONS.setdefault("cancel", "取消")

log = logging.getLogger(__name__)

DEFAULT_CUTOFF = "17:00"
MAX_DAYS_AHEAD = 30
MAX_ITEMS = 3000
MAX_PROBLEMS_IN_MESSAGE = 10
LIMITS = {"external_id": 64, "patient": 64, "patient_name": 50, "service_item": 100, "bed": 16,
          "special_note": 200, "note": 500}
LABELS = {"external_id": "项目编号", "patient": "患者", "patient_name": "姓名", "task_type": "服务项目",
          "service_item": "服务内容", "ward": "病区", "bed": "床号", "time_slot": "时段",
          "special_needs": "特殊需求", "special_note": "特殊需求说明", "note": "备注"}
# What makes an item "the same" when it is submitted again.
COMPARED = ("patient_id", "patient_ref_hash", "patient_name", "task_type", "service_item", "ward_id", "bed",
            "time_slot", "special_needs", "special_note", "note")
AUDITED = ("external_id", "patient_id", "patient_ref", "patient_name", "task_type", "service_item", "ward_id", "bed",
           "time_slot", "special_needs", "special_note", "note", "is_cancelled", "is_late")
SPLIT_NEEDS = re.compile(r"[、,，;；/\s]+")
# Resident ID numbers (18 or 15 digits) and passport-like numbers: these are masked when stored as given.
ID_LIKE = re.compile(r"^(\d{17}[\dX]|\d{15}|[A-Z]{1,2}\d{7,10})$")
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


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

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.cancelled)

    @property
    def unknown(self) -> list[PlanItem]:
        """Submitted items whose patient is not (yet) known."""
        return [i for i in self.items if i.patient_id is None and not i.is_cancelled]


# ---------------------------------------------------------------------------------------------------------------
# The cutoff
# ---------------------------------------------------------------------------------------------------------------


def _cutoff_time() -> tuple[int, int]:
    raw = str(current_app.config.get("PLAN_CUTOFF") or DEFAULT_CUTOFF)
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw.strip())
    if match is None:
        log.warning("PLAN_CUTOFF %r is not HH:MM; using %s", raw, DEFAULT_CUTOFF)
        match = re.fullmatch(r"(\d+):(\d+)", DEFAULT_CUTOFF)
    return int(match.group(1)), int(match.group(2))


def cutoff_label() -> str:
    hour, minute = _cutoff_time()
    return f"{hour:02d}:{minute:02d}"


def cutoff_for(plan_date: date) -> datetime:
    """The instant (UTC) after which items for `plan_date` are late: the cutoff time on the day before, local."""
    hour, minute = _cutoff_time()
    day = plan_date - timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


def as_utc(now: datetime | None) -> datetime:
    now = now or utcnow()
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def is_late(plan_date: date, now: datetime | None = None) -> bool:
    return as_utc(now) > cutoff_for(plan_date)


def local_day(now: datetime | None = None) -> date:
    """Today in Asia/Shanghai at `now` (the service clock: tests inject `now`)."""
    return as_utc(now).astimezone(LOCAL_TZ).date()


def date_window(now: datetime | None = None) -> tuple[date, date]:
    """The first and last plan date that may be submitted now: tomorrow .. tomorrow + MAX_DAYS_AHEAD - 1."""
    today = local_day(now)
    return today + timedelta(days=1), today + timedelta(days=MAX_DAYS_AHEAD)


def check_plan_date(plan_date: date, now: datetime | None = None) -> None:
    first, last = date_window(now)
    if not isinstance(plan_date, date):
        raise ServiceError("请填写计划日期。", field="plan_date")
    if plan_date < first:
        raise ServiceError(f"计划日期 {plan_date:%Y-%m-%d} 已不能再下达或修改：次日服务计划只能下达 "
                           f"{first:%Y-%m-%d}（明天）及以后的计划。", field="plan_date")
    if plan_date > last:
        raise ServiceError(f"计划日期 {plan_date:%Y-%m-%d} 太远：最多提前 {MAX_DAYS_AHEAD} 天下达"
                           f"（最晚 {last:%Y-%m-%d}）。", field="plan_date")


# ---------------------------------------------------------------------------------------------------------------
# Checking items
# ---------------------------------------------------------------------------------------------------------------


def _hostile(text: str) -> bool:
    return any((ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f" or ch in BIDI for ch in text)


def looks_like_id_number(ref: str) -> bool:
    return bool(ID_LIKE.fullmatch(crypto.normalise(ref)))


def stored_ref(ref: str) -> str:
    """What is kept of a patient reference in clear text: hospital numbers as given, ID numbers masked."""
    return masking.mask_id_number(crypto.normalise(ref)) if looks_like_id_number(ref) else clean(ref)


def stable_external_id(plan_date: date, patient_ref: str, task_type: str, time_slot: str) -> str:
    """An item id for entries that come without one: the same patient, service and slot give the same id."""
    who = crypto.lookup_hash(patient_ref) or ""
    digest = hashlib.sha256(f"{plan_date.isoformat()}|{who}|{task_type}|{time_slot}".encode()).hexdigest()
    return "P" + digest[:19].upper()


def next_form_ids(plan_date: date, plan: Plan | None, count: int) -> list[str]:
    """Readable ids for items entered by hand: the date and a sequence (20261202-003), unused in the plan."""
    taken = set(db.session.scalars(select(PlanItem.external_id).where(PlanItem.plan_id == plan.id))) if plan else set()
    out, n = [], len(taken)
    while len(out) < count:
        n += 1
        candidate = f"{plan_date:%Y%m%d}-{n:03d}"
        if candidate not in taken:
            out.append(candidate)
    return out


def _code(value: Any, choices: dict[str, str]) -> str | None:
    text = unicodedata.normalize("NFKC", str(value)).strip() if value is not None else ""
    for code, label in choices.items():
        if text in (code, label):
            return code
    return None


def parse_special_needs(value: Any) -> tuple[list[str], list[str]]:
    """Codes in the catalogue's order, and the words that are not special needs."""
    if value is None or value == "":
        return [], []
    words = SPLIT_NEEDS.split(value) if isinstance(value, str) else list(value)
    codes, unknown = set(), []
    for word in words:
        if not isinstance(word, str):
            unknown.append(str(word))
            continue
        if not word.strip():
            continue
        code = _code(word, SPECIAL_NEEDS)
        if code is None:
            unknown.append(word.strip())
        else:
            codes.add(code)
    return [c for c in SPECIAL_NEEDS if c in codes], unknown


def special_needs_hint() -> str:
    return "、".join(SPECIAL_NEEDS.values())


def _ward(value: Any, cache: dict | None = None) -> tuple[int | None, str | None]:
    """A ward (or department) by id, code or name; (None, None) when not given, (None, message) when wrong."""
    if cache is not None:
        key = (type(value).__name__, value) if isinstance(value, (str, int)) else None
        if key is not None:
            if key not in cache:
                cache[key] = _ward(value)
            return cache[key]
    if value is None or value == "":
        return None, None
    if isinstance(value, int) and not isinstance(value, bool):
        ward = db.session.get(Department, value) if 0 < value < 2**31 else None
        found = [ward] if ward is not None else []
        text = str(value)
    else:
        text = clean(str(value))
        if len(text) > 100:
            return None, "病区名称过长"
        found = db.session.scalars(select(Department).where(
            (Department.code == text) | (Department.name == text))).all()
    inpatient = set(db.session.scalars(select(Department.id).where(
        Department.id.in_([d.id for d in found]), inpatient_unit()))) if found else set()
    found = [d for d in found if d.id in inpatient]
    if not found:
        return None, f"找不到在用的病区“{text[:30]}”（可填病区名称或代码）"
    if len(found) > 1:
        return None, f"有多个名为“{text[:30]}”的病区，请改填病区代码"
    return found[0].id, None


def _text(raw: dict, name: str, problems: list[tuple[str, str]]) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append((name, f"{LABELS[name]}应为文字"))
        return ""
    text = clean(unicodedata.normalize("NFKC", str(value)) if name in ("external_id", "patient") else str(value))
    if _hostile(text):
        problems.append((name, f"{LABELS[name]}包含不可见的控制字符"))
        return ""
    if len(text) > LIMITS[name]:
        problems.append((name, f"{LABELS[name]}不能超过 {LIMITS[name]} 个字符（现有 {len(text)} 个）"))
        return ""
    return text


class _Items:
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


def _normalise(plan_date: date, raw: dict, existing: _Items,
               wards: dict | None = None) -> tuple[dict, list[tuple[str, str]]]:
    """One item as the form, Excel or HIS gives it -> clean values, or the problems with it."""
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, dict):
        return {}, [(None, "项目格式不正确")]
    values = {name: _text(raw, name, problems) for name in LIMITS}
    task_type = _code(raw.get("task_type"), TASK_TYPES)
    if task_type is None:
        problems.append(("task_type", f"服务项目“{str(raw.get('task_type') or '')[:20]}”无效，应为："
                                      f"{'、'.join(TASK_TYPES.values())}" if raw.get("task_type")
                         else "请选择服务项目"))
    slot = _code(raw.get("time_slot") or "any", TIME_SLOTS)
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
    ward_id, ward_problem = _ward(raw.get("ward_id", raw.get("ward")), wards)
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


def _closed_patients(patient_ids: set[int]) -> set[int]:
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


def _closed_message(who: str) -> str:
    return f"患者{who}已出院结案（没有在管的入组），不能下达服务计划；如需继续服务，请先重新入组"


def _patient_key(values: dict) -> tuple:
    return ("patient", values["patient_id"]) if values.get("patient_id") else ("ref", values.get("patient_ref_hash"))


def _describe(values: dict, patient: Patient | None = None) -> str:
    if patient is not None:
        ref = values.get("patient_ref") or patient.hospital_no or patient.id_number_masked
        return f"{patient.masked_name}（{ref}）"
    name = masking.mask_name(values.get("patient_name") or "")
    return f"{name}（{values.get('patient_ref')}）" if name else str(values.get("patient_ref"))


def _check(plan_date: date, raws: list, existing: _Items, replace: bool,
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
    closed = _closed_patients({v["patient_id"] for _, v in checked if v.get("patient_id")})
    patients = {p.id: p for p in cache.values() if p is not None}
    slots: dict[tuple, int] = {}
    for index, values in checked:
        pid = values.get("patient_id")
        if pid in closed:
            who = _describe(values, patients.get(pid) or db.session.get(Patient, pid))
            problems.append(Problem(index, values["external_id"], "patient", _closed_message(who)))
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
        _check(plan_date, raws, _Items(plan), replace=True)
    except PlanError as error:
        return error.problems
    return []


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
            plan = Plan(plan_date=plan_date, first_submitted_at=now, last_submitted_at=now, revision=1)
            db.session.add(plan)
            db.session.flush()
    except IntegrityError:
        # Another submission created it a moment ago: continue on theirs.
        plan = _plan_for_update(plan_date)
        if plan is None:
            raise
    return plan


def _label(item: PlanItem) -> str:
    name = masking.mask_name(item.patient_name) or item.patient_ref
    return f"{item.plan.plan_date:%Y-%m-%d} {item.external_id} {name} {item.task_type_label}"[:255]


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
    if state is not None:
        state["revised"].add(plan.id)
    plan.last_submitted_at = now
    plan.is_late = plan.is_late or late


def submit_plan(plan_date: date, items: list[dict], *, source: str, replace: bool = False,
                now: datetime | None = None, batch: bool = False, adding: bool = False) -> SubmitResult:
    """Submit (or revise) the plan for `plan_date`: all-or-nothing, idempotent by item id.

    Items: {"external_id", "patient" (hospital number or ID number), "patient_name", "task_type" (code or
    label), "service_item", "ward_id" or "ward" (id, code or name), "bed", "time_slot" (code or label),
    "special_needs" (codes/labels, or text such as "轮椅、禁食"), "special_note", "note"}. Without an
    external id one is derived from the date, patient, service and slot. ``replace`` cancels the date's
    items that are not in the submission; ``adding`` (the form's "add") refuses ids the plan already has.
    Raises PlanError listing every problem; nothing is written then.
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
    existing = _Items(plan)
    if replace:
        existing.all()
    if adding:  # entered by hand: a readable id instead of the derived one (clashes are found by patient and slot)
        blank = [raw for raw in items if isinstance(raw, dict) and not clean(str(raw.get("external_id") or ""))]
        for raw, external_id in zip(blank, next_form_ids(plan_date, plan, len(blank)), strict=True):
            raw["external_id"] = external_id
    checked = _check(plan_date, items, existing, replace, adding)
    late = is_late(plan_date, now)
    result = SubmitResult(plan_date, plan, late)
    created_plan = False
    if plan is None and checked:
        plan = result.plan = existing.plan = _new_plan(plan_date, now)
        plan.is_late = late
        created_plan = True
    for values in checked:
        wanted = {k: values.get(k) for k in COMPARED}
        item = existing.get(values["external_id"])
        if item is None:
            item = PlanItem(plan_id=plan.id, external_id=values["external_id"], patient_ref=values["patient_ref"],
                            source=source, is_late=late, is_cancelled=False, submitted_at=now, **wanted)
            db.session.add(item)
            db.session.flush()
            audit.record("create", "plan_item", item.id, label=_label(item), after=audit.snapshot(item, AUDITED))
            existing.add(item)
            result.created += 1
        elif not item.is_cancelled and all(getattr(item, k) == v for k, v in wanted.items()):
            result.unchanged += 1
        else:
            _remember(state, item)
            before = audit.snapshot(item, AUDITED)
            for key, value in wanted.items():
                setattr(item, key, value)
            item.patient_ref, item.is_cancelled = values["patient_ref"], False
            item.source, item.submitted_at, item.is_late = source, now, item.is_late or late
            if _restore_if_unchanged(state, item):
                result.unchanged += 1
            else:
                result.updated += 1
            audit.record("update", "plan_item", item.id, label=_label(item), before=before,
                         after=audit.snapshot(item, AUDITED))
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
    return result


def _cancel(item: PlanItem, now: datetime, late: bool, state: dict | None) -> None:
    _remember(state, item)
    before = audit.snapshot(item, AUDITED)
    item.is_cancelled, item.submitted_at, item.is_late = True, now, item.is_late or late
    audit.record("cancel", "plan_item", item.id, label=_label(item), before=before,
                 after=audit.snapshot(item, AUDITED))


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


def _active_in_period(start: date, end: date):
    return (select(PlanItem).join(Plan, Plan.id == PlanItem.plan_id)
            .where(Plan.plan_date >= start, Plan.plan_date <= end, PlanItem.is_cancelled.is_(False)))


def count_period(start: date, end: date) -> int:
    """Items that cancelling the period would withdraw."""
    return db.session.scalar(select(func.count()).select_from(_active_in_period(start, end).subquery()))


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
    for item in db.session.scalars(_active_in_period(start, end).order_by(PlanItem.id)):
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


# ---------------------------------------------------------------------------------------------------------------
# Unknown patients
# ---------------------------------------------------------------------------------------------------------------


def unknown_items(plan: Plan) -> list[PlanItem]:
    return list(db.session.scalars(select(PlanItem).where(PlanItem.plan_id == plan.id, PlanItem.patient_id.is_(None),
                                                          PlanItem.is_cancelled.is_(False)).order_by(PlanItem.id)))


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
    if patient.id in _closed_patients({patient.id}):
        raise ServiceError(_closed_message(patient.masked_name) + "。", field="ref")
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
    audit.record("update", "plan_item", item.id, label=_label(item), before=before,
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
        reveal.record_reveal_by_search("plan_item", [(i.id, _label(i), reveal.ID_NUMBER) for i in found], term)
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
