"""Reading one plan item as the form, Excel or HIS gives it: text limits, codes, wards, patient references."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from typing import Any

from sqlalchemy import select

from portal.auth.models import Department
from portal.core import crypto, masking
from portal.core.service import clean
from portal.extensions import db

from ..models import SPECIAL_NEEDS, Plan, PlanItem
from .queries import inpatient_unit

LIMITS = {"external_id": 64, "patient": 64, "patient_name": 50, "service_item": 100, "bed": 16,
          "special_note": 200, "note": 500}
LABELS = {"external_id": "项目编号", "patient": "患者", "patient_name": "姓名", "task_type": "服务项目",
          "service_item": "服务内容", "ward": "病区", "bed": "床号", "time_slot": "时段",
          "special_needs": "特殊需求", "special_note": "特殊需求说明", "note": "备注"}
# What makes an item "the same" when it is submitted again.


SPLIT_NEEDS = re.compile(r"[、,，;；/\s]+")
# Resident ID numbers (18 or 15 digits) and passport-like numbers: these are masked when stored as given.
ID_LIKE = re.compile(r"^(\d{17}[\dX]|\d{15}|[A-Z]{1,2}\d{7,10})$")
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


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


def parse_code(value: Any, choices: dict[str, str]) -> str | None:
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
        code = parse_code(word, SPECIAL_NEEDS)
        if code is None:
            unknown.append(word.strip())
        else:
            codes.add(code)
    return [c for c in SPECIAL_NEEDS if c in codes], unknown


def special_needs_hint() -> str:
    return "、".join(SPECIAL_NEEDS.values())


def parse_ward(value: Any, cache: dict | None = None) -> tuple[int | None, str | None]:
    """A ward (or department) by id, code or name; (None, None) when not given, (None, message) when wrong."""
    if cache is not None:
        key = (type(value).__name__, value) if isinstance(value, (str, int)) else None
        if key is not None:
            if key not in cache:
                cache[key] = parse_ward(value)
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


def parse_text(raw: dict, name: str, problems: list[tuple[str, str]]) -> str:
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
