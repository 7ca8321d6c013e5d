"""Catalogue entries: create, revise, enable and disable (one by one or in bulk), each change a new revision.

Every change bumps ``Technology.revision`` and writes a ``TechnologyRevision`` holding the whole state as it
became (department codes included), who, when, why and from where (form / import / bulk), and is audited.
Past revisions and the catalogue "as of date D" are read back from the revisions.

Two people editing one entry at once: the entry row is locked (PostgreSQL; SQLite serialises writers) and an
edit made on an older revision than the stored one is refused with 409; the unique (entry, revision) key is
the last guard, so a revision number is never written twice and no revision is lost.

Who may perform an entry needs privileges, which come with the credentials domain: ``performers(technology_id)``
belongs in this module once they exist. What a department may perform is ``department_summary`` (queries).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.auth.models import Department
from portal.core import audit
from portal.core.actor import current_actor
from portal.core.labels import Change, field_label, value_label
from portal.core.service import Conflict, ServiceError, atomic, clean
from portal.core.timeutil import local_day_bounds, utcnow
from portal.extensions import db

from ..models import CATEGORIES, FLAGS, GRADES, STATUSES, Technology, TechnologyDepartment, TechnologyRevision

ENTITY = "technology"
SOURCES = {"form": "页面维护", "import": "字典导入", "bulk": "批量操作", "api": "接口", "demo": "初始数据"}
# The state a revision keeps, in the order the detail page and a diff show it.
FIELDS = ("code", "national_code", "insurance_code", "name", "category", "grade", *FLAGS, "prerequisites",
          "departments", "status", "note")
EDITABLE = tuple(f for f in FIELDS if f not in ("departments", "status"))
MAX_REASON = 500
MAX_BULK = 2000
CONFLICT = "该条目已被他人修改（当前为第 {revision} 版），请刷新后在最新版本上重新修改。"
SEPARATORS = re.compile(r"[、,，;；\s]+")


def split_codes(text: str | Iterable[str] | None) -> list[str]:
    """Codes typed as one line ("A1、B2; C3") or given as a list: trimmed, upper case, each once, in order."""
    parts = SEPARATORS.split(text) if isinstance(text, str) else list(text or [])
    out: list[str] = []
    for part in parts:
        code = (part or "").strip().upper()
        if code and code not in out:
            out.append(code)
    return out


def state_of(tech: Technology, department_codes: Sequence[str] | None = None) -> dict[str, Any]:
    """The whole state of an entry as a revision keeps it (department codes sorted)."""
    codes = sorted(department_codes if department_codes is not None else (d.code for d in tech.departments))
    state = {name: getattr(tech, name) for name in FIELDS if name != "departments"}
    state["prerequisites"] = list(tech.prerequisites or [])
    state["departments"] = codes
    return state


def _reason(reason: str | None) -> str:
    text = clean(reason)
    if not text:
        raise ServiceError("请填写修改原因。", field="reason")
    if len(text) > MAX_REASON:
        raise ServiceError(f"修改原因不能超过 {MAX_REASON} 个字。", field="reason")
    return text


def _check_values(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values as stored; a rule broken is a ServiceError naming the field."""
    out = dict(values)
    if "code" in out:
        out["code"] = "".join(clean(out["code"]).split()).upper()
    for name in ("national_code", "insurance_code"):  # 47.0100x001: national codes keep their case
        if name in out:
            out[name] = "".join(clean(out[name]).split())
    if "name" in out:
        out["name"] = clean(out["name"])
        if not out["name"]:
            raise ServiceError("请填写技术名称。", field="name")
    if "code" in out and not out["code"]:
        raise ServiceError("请填写院内编码。", field="code")
    if "category" in out and out["category"] not in CATEGORIES:
        raise ServiceError("类别无效。", field="category")
    if "grade" in out:
        try:
            out["grade"] = int(out["grade"])
        except (TypeError, ValueError):
            raise ServiceError("手术等级应为 1–4 级。", field="grade") from None
        if out["grade"] not in GRADES:
            raise ServiceError("手术等级应为 1–4 级。", field="grade")
    for flag in FLAGS:
        if flag in out:
            out[flag] = bool(out[flag])
    if "prerequisites" in out:
        out["prerequisites"] = split_codes(out["prerequisites"])
    if "note" in out:
        out["note"] = clean(out["note"])
    return out


def departments_by_ids(ids: Iterable[int]) -> list[Department]:
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return []
    found = list(db.session.scalars(select(Department).where(Department.id.in_(wanted))))
    if len(found) != len(wanted):
        raise ServiceError("所选科室不存在。", field="department_ids")
    return found


def _lock(tech: Technology) -> None:
    """Hold the entry's row for this transaction: a second writer waits and then sees the new revision."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.refresh(tech, with_for_update=True)


def _write_revision(tech: Technology, state: dict, reason: str, source: str, when: datetime) -> TechnologyRevision:
    """The revision row of the entry's current revision number; a clash on (entry, revision) is a 409."""
    revision = TechnologyRevision(technology_id=tech.id, revision=tech.revision, valid_from=when, data=state,
                                  reason=reason, changed_by_id=current_actor().user_id, source=source)
    try:
        with db.session.begin_nested():
            db.session.add(revision)
            db.session.flush()
    except IntegrityError:
        raise Conflict(CONFLICT.format(revision=tech.revision)) from None
    return revision


def _record(action: str, tech: Technology, before: dict | None, after: dict, reason: str, source: str) -> None:
    changes = audit.diff(before, after)
    changes["reason"] = reason
    changes["source"] = SOURCES.get(source, source)
    changes["revision"] = tech.revision
    audit.record(action, ENTITY, tech.id, label=f"{tech.code} {tech.name}", changes=changes)


@atomic()
def create_technology(values: dict[str, Any], department_ids: Iterable[int] = (), *, reason: str = "新增条目",
                      source: str = "form", when: datetime | None = None) -> Technology:
    """A new entry at revision 1 (active unless said otherwise)."""
    values = _check_values(values)
    reason = _reason(reason)
    if db.session.scalar(select(Technology.id).where(func.upper(Technology.code) == values["code"])):
        raise ServiceError(f"院内编码 {values['code']} 已存在。", field="code")
    departments = departments_by_ids(department_ids)
    tech = Technology(**{k: v for k, v in values.items() if k in EDITABLE or k == "status"}, revision=1)
    tech.status = values.get("status") or "active"
    if tech.status not in STATUSES:
        raise ServiceError("状态无效。", field="status")
    tech.departments = departments
    db.session.add(tech)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise ServiceError(f"院内编码 {values['code']} 已存在。", field="code") from None
    state = state_of(tech, [d.code for d in departments])
    _write_revision(tech, state, reason, source, when or utcnow())
    _record("create", tech, None, state, reason, source)
    return tech


def _apply(tech: Technology, values: dict[str, Any], departments: list[Department] | None, reason: str,
           source: str, expected_revision: int | None, action: str = "update",
           when: datetime | None = None) -> bool:
    """Change an entry; False (nothing written) when the new state is the stored one."""
    _lock(tech)
    if expected_revision is not None and tech.revision != expected_revision:
        raise Conflict(CONFLICT.format(revision=tech.revision))
    before = state_of(tech)
    for name, value in values.items():
        setattr(tech, name, value)
    if departments is not None:
        tech.departments = sorted(departments, key=lambda d: d.code)
    after = state_of(tech, [d.code for d in (departments if departments is not None else tech.departments)])
    if after == before:
        return False
    tech.revision += 1
    tech.updated_at = utcnow()
    db.session.flush()
    _write_revision(tech, after, reason, source, when or utcnow())
    _record(action, tech, before, after, reason, source)
    return True


@atomic()
def update_technology(tech: Technology, values: dict[str, Any], department_ids: Iterable[int] | None = None, *,
                      reason: str, expected_revision: int | None = None, source: str = "form",
                      when: datetime | None = None) -> bool:
    """Revise an entry's fields and departments; a new revision only when something changed."""
    values = _check_values(values)
    reason = _reason(reason)
    if "code" in values and values["code"] != tech.code and db.session.scalar(
            select(Technology.id).where(func.upper(Technology.code) == values["code"], Technology.id != tech.id)):
        raise ServiceError(f"院内编码 {values['code']} 已存在。", field="code")
    departments = departments_by_ids(department_ids) if department_ids is not None else None
    values = {k: v for k, v in values.items() if k in EDITABLE}
    return _apply(tech, values, departments, reason, source, expected_revision, when=when)


@atomic()
def set_status(tech: Technology, status: str, *, reason: str, expected_revision: int | None = None,
               source: str = "form", when: datetime | None = None) -> bool:
    """Enable or disable an entry, with the reason."""
    if status not in STATUSES:
        raise ServiceError("状态无效。", field="status")
    reason = _reason(reason)
    return _apply(tech, {"status": status}, None, reason, source, expected_revision,
                  action="activate" if status == "active" else "deactivate", when=when)


@dataclass
class BulkResult:
    changed: list[str]  # codes of the entries that got a new revision
    unchanged: int


def _bulk(ids: Sequence[int], change, reason: str, what: str) -> BulkResult:
    reason = _reason(reason)
    ids = sorted({int(i) for i in ids})
    if not ids:
        raise ServiceError("请先勾选要操作的条目。", field="ids")
    if len(ids) > MAX_BULK:
        raise ServiceError(f"一次最多操作 {MAX_BULK} 条。", field="ids")
    techs = list(db.session.scalars(select(Technology).where(Technology.id.in_(ids)).order_by(Technology.code)))
    if len(techs) != len(ids):
        raise ServiceError("所选条目有的已不存在，请刷新后重试。", field="ids")
    changed, unchanged, now = [], 0, utcnow()
    for tech in techs:
        _lock(tech)
        before = state_of(tech)
        values, departments = change(tech)
        for name, value in values.items():
            setattr(tech, name, value)
        if departments is not None:
            tech.departments = sorted(departments, key=lambda d: d.code)
        after = state_of(tech, [d.code for d in (departments if departments is not None else tech.departments)])
        if after == before:
            unchanged += 1
            continue
        tech.revision += 1
        tech.updated_at = now
        db.session.flush()
        _write_revision(tech, after, reason, "bulk", now)
        changed.append(tech.code)
    audit.record("update", ENTITY, "", label=f"{what}：{len(changed)} 条",
                 changes={"action": what, "codes": changed, "reason": reason, "source": SOURCES["bulk"]})
    return BulkResult(changed, unchanged)


@atomic()
def bulk_set_status(ids: Sequence[int], status: str, *, reason: str) -> BulkResult:
    """Enable or disable the selected entries: one revision per entry that changes, one summary audit record."""
    if status not in STATUSES:
        raise ServiceError("状态无效。", field="status")
    return _bulk(ids, lambda tech: ({"status": status}, None), reason, "批量" + STATUSES[status])


@atomic()
def bulk_departments(ids: Sequence[int], *, add: Iterable[int] = (), remove: Iterable[int] = (),
                     reason: str) -> BulkResult:
    """Add and/or remove departments on the selected entries (one revision per entry that changes)."""
    adding, removing = departments_by_ids(add), departments_by_ids(remove)
    if not adding and not removing:
        raise ServiceError("请选择要增加或移除的科室。", field="department_ids")
    removed = {d.id for d in removing}

    def change(tech):
        kept = [d for d in tech.departments if d.id not in removed]
        kept_ids = {d.id for d in kept}
        return {}, kept + [d for d in adding if d.id not in kept_ids and d.id not in removed]

    return _bulk(ids, change, reason, "批量调整可开展科室")


# --- reading revisions -----------------------------------------------------------------------------------------

def revisions(technology_id: int) -> list[TechnologyRevision]:
    """An entry's revisions, newest first (the timeline)."""
    return list(db.session.scalars(select(TechnologyRevision).where(TechnologyRevision.technology_id == technology_id)
                                   .options(selectinload(TechnologyRevision.changed_by))
                                   .order_by(TechnologyRevision.revision.desc())))


def revision(technology_id: int, number: int) -> TechnologyRevision | None:
    return db.session.scalar(select(TechnologyRevision).where(TechnologyRevision.technology_id == technology_id,
                                                              TechnologyRevision.revision == number))


def end_of(day: date) -> datetime:
    """The UTC instant at which a local day ends: "as of D" is the state valid at the end of D."""
    return local_day_bounds(day)[1]


def state_as_of(technology_id: int, day: date) -> TechnologyRevision | None:
    """The revision valid at the end of ``day`` (None: the entry did not exist yet); reads the (entry, valid_from)
    index backwards and stops at the first row."""
    return db.session.scalar(select(TechnologyRevision).where(
        TechnologyRevision.technology_id == technology_id, TechnologyRevision.valid_from < end_of(day))
        .order_by(TechnologyRevision.valid_from.desc(), TechnologyRevision.revision.desc()).limit(1))


def diff_states(before: dict | None, after: dict) -> list[Change]:
    """Two states field by field in Chinese: only what differs, in the detail page's order."""
    before = before or {}
    out = []
    for name in FIELDS:
        old, new = before.get(name), after.get(name)
        if old != new:
            out.append(Change(field_label(ENTITY, name), value_label(ENTITY, name, old),
                              value_label(ENTITY, name, new)))
    return out


def describe_state(state: dict) -> list[tuple[str, str]]:
    """A state as (label, value) pairs for a definition list."""
    return [(field_label(ENTITY, name), value_label(ENTITY, name, state.get(name))) for name in FIELDS]


def insert_departments(pairs: Iterable[tuple[int, int]]) -> None:
    rows = [{"technology_id": t, "department_id": d} for t, d in pairs]
    if rows:
        db.session.execute(insert(TechnologyDepartment), rows)


def delete_departments(technology_ids: Iterable[int]) -> None:
    ids = list(technology_ids)
    if ids:
        db.session.execute(delete(TechnologyDepartment).where(TechnologyDepartment.technology_id.in_(ids)))


# --- labels: audit records, diffs and exports read the same words ----------------------------------------------

def _department_name(code: Any) -> str | None:
    name = db.session.scalar(select(Department.name).where(Department.code == str(code)))
    return f"{name}（{code}）" if name else None


def _register_labels() -> None:
    from portal.core import labels

    labels.register_fields(ENTITY, {
        "code": "院内编码", "national_code": "国家临床版3.0编码", "insurance_code": "医保版2.0编码", "name": "名称",
        "category": "类别", "grade": "手术等级", **FLAGS, "prerequisites": "前置资质", "departments": "可开展科室",
        "status": "状态", "note": "备注", "reason": "原因", "source": "来源", "revision": "版本", "codes": "条目",
        "action": "操作", "as_of": "截至日期", "changed_from": "修订日期自", "department_id": "科室",
        "effective_date": "生效日期"})
    labels.register_values(ENTITY, "category", CATEGORIES)
    labels.register_values(ENTITY, "grade", GRADES)
    labels.register_values(ENTITY, "status", STATUSES)
    labels.register_values(ENTITY, "departments", _department_name)
    labels.register_filters(ENTITY, {"q": "搜索", "department_id": "可开展科室"},
                            {"department_id": _department_by_id, **{flag: {"1": "是", "0": "否"} for flag in FLAGS}})


def _department_by_id(value: Any) -> str | None:
    try:
        return db.session.scalar(select(Department.name).where(Department.id == int(value)))
    except (TypeError, ValueError):
        return None


_register_labels()
