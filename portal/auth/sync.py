"""Departments and staff pushed by HR / HIS in batches (POST /api/v1/departments, /api/v1/staff).

Idempotent by department code / 工号: a new one is created, a changed one updated, the same one left alone.
All or nothing per batch: every item is checked first and any problem (each with its index, field and
code) means nothing is written. A person who leaves (active: false) is deactivated, never deleted, and
their portal account with them. Staff reuse the staff import's bulk writer (one statement for the new,
one for the changed); departments reuse the organisation services. One summary audit record per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from portal.core import audit
from portal.core.actor import current_actor
from portal.core.service import ServiceError, atomic
from portal.extensions import db

from . import imports, org
from .models import DEPARTMENT_KINDS, Department, User
from .services import set_user_active

audit.ACTIONS.setdefault("sync", "接口同步")
MAX_ITEMS = 5000
# Codes of one item's problem (details[].code); docs/api.md lists them.
ITEM_CODES = {
    "REQUIRED": "缺少必填字段",
    "BAD_TYPE": "字段类型不对（应为文字、true/false 等）",
    "TOO_LONG": "文字超过长度上限",
    "UNKNOWN_FIELD": "不认识的字段",
    "DUPLICATE": "同一批中编码重复",
    "BAD_KIND": "科室类型不在 hospital / division / department / ward 之中",
    "UNKNOWN_DEPARTMENT": "找不到该科室代码（或科室已停用）",
    "UNKNOWN_PARENT": "找不到上级科室代码",
    "RULE": "违反组织规则（如上级类型不符、同一上级下重名、停用仍有在职人员的科室）",
}


@dataclass
class Problem:
    index: int  # 1-based, as in the batch
    key: str | None
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "key": self.key, "field": self.field, "code": self.code, "message": self.message}


class BatchRejected(ServiceError):
    """The batch had problems; nothing was written."""

    def __init__(self, problems: list[Problem]):
        super().__init__(f"本批 {len(problems)} 处问题，没有写入任何数据：请修改后整批重新提交。", status=422)
        self.problems = problems


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "deactivated": len(self.deactivated), "created_keys": self.created, "updated_keys": self.updated,
                "deactivated_keys": self.deactivated}


def _text(raw: dict, name: str, index: int, key: str | None, problems: list[Problem], *, required: bool = False,
          max_length: int = 100) -> str:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(Problem(index, key, name, "REQUIRED", f"第 {index} 项缺少“{name}”。"))
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append(Problem(index, key, name, "BAD_TYPE", f"第 {index} 项的“{name}”应为文字。"))
        return ""
    text = " ".join(str(value).split())
    if len(text) > max_length:
        problems.append(Problem(index, key, name, "TOO_LONG", f"第 {index} 项的“{name}”超过 {max_length} 个字符。"))
        return ""
    return text


def _flag(raw: dict, name: str, index: int, key: str | None, problems: list[Problem]) -> bool:
    value = raw.get(name, True)
    if value is None:
        return True
    if not isinstance(value, bool):
        problems.append(Problem(index, key, name, "BAD_TYPE", f"第 {index} 项的“{name}”应为 true 或 false。"))
        return True
    return value


def _shape(items: list, allowed: set[str], key_name: str, problems: list[Problem]) -> list[tuple[int, dict, str]]:
    """Each item is an object with known fields and a key not seen before in the batch."""
    seen: dict[str, int] = {}
    rows = []
    for index, raw in enumerate(items, start=1):
        if not isinstance(raw, dict):
            problems.append(Problem(index, None, None, "BAD_TYPE", f"第 {index} 项应为 JSON 对象。"))
            continue
        unknown = sorted(str(k)[:30] for k in set(raw) - allowed)
        key = _text(raw, key_name, index, None, problems, required=True, max_length=32).upper()
        if unknown:
            problems.append(Problem(index, key or None, unknown[0], "UNKNOWN_FIELD",
                                    f"第 {index} 项有不认识的字段：{'、'.join(unknown[:5])}。"))
        if key and key in seen:
            problems.append(Problem(index, key, key_name, "DUPLICATE",
                                    f"第 {index} 项的“{key}”与第 {seen[key]} 项重复。"))
        elif key:
            seen[key] = index
            rows.append((index, raw, key))
    return rows


def _summary(entity: str, what: str, outcome: Outcome, total: int) -> None:
    audit.record("sync", entity, "", label=f"接口同步{what} {total} 项：新增 {len(outcome.created)}，"
                                          f"修改 {len(outcome.updated)}，停用 {len(outcome.deactivated)}",
                 changes={"created": outcome.created[:2000], "updated": outcome.updated[:2000],
                          "deactivated": outcome.deactivated[:2000], "unchanged": len(outcome.unchanged)})


DEPARTMENT_KEYS = {"code", "name", "kind", "parent", "active", "sort_order"}


def upsert_departments(items: list) -> Outcome:
    """Create or update departments by code (parents may come in the same batch, in any order)."""
    problems: list[Problem] = []
    rows = _shape(items, DEPARTMENT_KEYS, "code", problems)
    wanted = {}
    for index, raw, code in rows:
        name = _text(raw, "name", index, code, problems, required=True)
        kind = _text(raw, "kind", index, code, problems, required=True, max_length=16)
        if kind and kind not in DEPARTMENT_KINDS:
            problems.append(Problem(index, code, "kind", "BAD_KIND",
                                    f"第 {index} 项的科室类型“{kind}”无效，应为 {' / '.join(DEPARTMENT_KINDS)}。"))
        parent = _text(raw, "parent", index, code, problems, max_length=32).upper()
        order = raw.get("sort_order", 0)
        if isinstance(order, bool) or not isinstance(order, int) or not -10**6 < order < 10**6:
            problems.append(Problem(index, code, "sort_order", "BAD_TYPE", f"第 {index} 项的“sort_order”应为整数。"))
            order = 0
        wanted[code] = (index, name, kind, parent, order, _flag(raw, "active", index, code, problems))
    existing = {d.code.upper(): d for d in db.session.scalars(select(Department))}
    for code, (index, _, _, parent, _, _) in wanted.items():
        if parent and parent not in wanted and parent not in existing:
            problems.append(Problem(index, code, "parent", "UNKNOWN_PARENT",
                                    f"第 {index} 项的上级科室“{parent}”不存在。"))
    if problems:
        raise BatchRejected(problems)
    outcome = Outcome()
    done: set[str] = set()

    def apply(code: str, trail: tuple[str, ...] = ()) -> None:
        if code in done or code not in wanted:
            return
        index, name, kind, parent, order, active = wanted[code]
        if parent in trail:
            raise BatchRejected([Problem(index, code, "parent", "RULE", f"第 {index} 项的上级关系成环。")])
        if parent:
            apply(parent, (*trail, code))
        parent_id = existing[parent].id if parent else None
        dept = existing.get(code)
        try:
            if dept is None:
                dept = org.create_department(name=name, code=code, kind=kind, parent_id=parent_id, sort_order=order)
                if not active:
                    org.update_department(dept, name=name, code=code, kind=kind, parent_id=parent_id,
                                          sort_order=order, is_active=False)
                existing[code] = dept
                outcome.created.append(code)
            elif (dept.name, dept.kind, dept.parent_id, dept.sort_order, dept.is_active) == \
                    (name, kind, parent_id, order, active):
                outcome.unchanged.append(code)
            else:
                was_active = dept.is_active
                org.update_department(dept, name=name, code=dept.code, kind=kind, parent_id=parent_id,
                                      sort_order=order, is_active=active)
                (outcome.deactivated if was_active and not active else outcome.updated).append(code)
        except ServiceError as error:
            problem = Problem(index, code, error.field, "RULE", f"第 {index} 项：{error.message}")
            raise BatchRejected([problem]) from None
        done.add(code)

    with atomic():
        for code in wanted:
            apply(code)
        _summary("department", "科室", outcome, len(items))
    return outcome


STAFF_KEYS = {"employee_no", "name", "department", "title", "position", "active"}


def upsert_staff(items: list) -> Outcome:
    """Create or update staff by 工号 with the staff import's bulk writer; leavers are deactivated."""
    problems: list[Problem] = []
    rows = _shape(items, STAFF_KEYS, "employee_no", problems)
    departments = {code.upper(): dept_id for dept_id, code in
                   db.session.execute(select(Department.id, Department.code).where(Department.is_active))}
    values = []
    for index, raw, number in rows:
        name = _text(raw, "name", index, number, problems, required=True, max_length=50)
        dept_code = _text(raw, "department", index, number, problems, required=True, max_length=32).upper()
        title = _text(raw, "title", index, number, problems, max_length=50)
        position = _text(raw, "position", index, number, problems, max_length=50)
        active = _flag(raw, "active", index, number, problems)
        if dept_code and dept_code not in departments:
            problems.append(Problem(index, number, "department", "UNKNOWN_DEPARTMENT",
                                    f"第 {index} 项的科室代码“{dept_code}”不存在或已停用。"))
            continue
        values.append({"employee_no": number, "name": name, "department_id": departments.get(dept_code),
                       "title": title, "position": position, "is_active": active})
    if problems:
        raise BatchRejected(problems)
    found = imports._find([(v["employee_no"],) for v in values])
    new = [v for v in values if (v["employee_no"],) not in found]
    corrections = [(v, found[(v["employee_no"],)]) for v in values if (v["employee_no"],) in found]
    outcome = Outcome(created=[v["employee_no"] for v in new])
    leavers = [row.id for v, row in corrections if row.is_active and not v["is_active"]]
    changed = {key[0] for key in imports._write_many(new, corrections)}
    left = {row.employee_no.upper() for v, row in corrections if row.id in leavers}
    for v, _ in corrections:
        number = v["employee_no"]
        (outcome.deactivated if number in left else outcome.updated if number in changed
         else outcome.unchanged).append(number)
    if leavers:  # a person who leaves can no longer sign in (the account is kept)
        acting = current_actor().user_id
        for user in db.session.scalars(select(User).where(User.staff_id.in_(leavers), User.is_active_flag)):
            set_user_active(user, False, acting_user_id=acting if acting != user.id else None)
    _summary("staff", "人员", outcome, len(items))
    return outcome

