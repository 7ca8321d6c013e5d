"""The privilege check HIS calls at order entry: may this member of staff order / perform this operation on
this day? Answered from an in-process cache, never from a stale one.

The cache (per app object, so per worker process) holds the staff by 工号 and the catalogue by local and national
code, built in one go; a person's privileges and the qualifications that can count are read the first time that
person is checked under the current generation (two indexed queries) and kept beside them. So a change (and a
worker's start) costs each worker a rebuild of the two small maps instead of reading every privilege and
qualification of the hospital (about a second of CPU, during which that worker answered nobody: the latency tail
of the check at 200 calls a second). Database triggers bump the one row of
``privilege_generation`` to a new value that never repeats (a sequence on PostgreSQL, a random 64-bit number
on SQLite) in the same transaction as any write to a table the answer depends on (see the migration); every
call reads that row (one primary-key lookup) and rebuilds the cache when it differs. So once a change is
committed, the next call in every worker answers from the new data; a cache built from changes that were
rolled back can never match a later value.

Dates decide on their own: a privilege or qualification past its end is out the day after, whether or not
the daily job has flipped its stored state yet.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date

from flask import current_app, has_request_context
from sqlalchemy import and_, or_, select, text

from portal.api import tokens
from portal.auth.models import Department, Staff
from portal.catalogue.models.technologies import Technology, TechnologyDepartment
from portal.extensions import db

from ..models.privileges import GRADES, RIGHTS, Privilege
from ..models.privileges import counts as held_on
from ..models.qualifications import Qualification, QualificationType

CATEGORY_ALL = frozenset()


class UnknownStaff(LookupError):
    pass


class UnknownCode(LookupError):
    pass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    staff_id: int
    technology_id: int
    technology_code: str
    technology_name: str
    grade: int
    privilege_id: int | None = None
    missing: dict | None = None  # what is lacking: {"type": "privilege"|"qualification"|..., ...}

    def as_dict(self) -> dict:
        return {"allowed": self.allowed, "reason": self.reason, "privilege_id": self.privilege_id,
                "missing": self.missing, "code": self.technology_code, "technology": self.technology_name,
                "grade": self.grade}


@dataclass(frozen=True)
class _Tech:
    id: int
    code: str
    name: str
    category: str
    grade: int
    own_only: bool  # restricted or new: a grade never covers it
    restricted: bool
    active: bool
    departments: frozenset[int]
    prerequisites: tuple[str, ...]


@dataclass(frozen=True)
class _Priv:
    id: int
    kind: str
    grade: int
    categories: frozenset[str]
    technology_id: int | None
    can_order: bool
    can_perform: bool
    valid_from: date
    valid_to: date
    status: str
    ended_on: date | None = None  # superseded: counts before this day


@dataclass
class _Data:
    generation: int = -1
    staff: dict[str, tuple[int, frozenset[int], bool, str]] = field(default_factory=dict)
    techs: dict[str, _Tech] = field(default_factory=dict)
    qual_names: dict[str, str] = field(default_factory=dict)
    # staff id -> (privileges, qualifications), filled as people are checked; dropped with the generation.
    people: dict[int, tuple[tuple[_Priv, ...], tuple[tuple[str, date | None, date | None], ...]]] = \
        field(default_factory=dict)
    person_loads: int = 0


class CheckCache:
    """One per app object: the data, and the generation it was built from."""

    def __init__(self):
        self.data = _Data()
        self.lock = threading.Lock()
        self.builds = 0

    def current(self) -> _Data:
        generation = current_generation()
        data = self.data
        if data.generation == generation:
            return data
        with self.lock:
            if self.data.generation != generation:
                self.data = _load(generation)
                self.builds += 1
            return self.data


def cache() -> CheckCache:
    found = current_app.extensions.get("privilege_check_cache")
    if found is None:
        found = current_app.extensions.setdefault("privilege_check_cache", CheckCache())
    return found


GENERATION_SQL = "SELECT value FROM privilege_generation WHERE id = 1"
# An API call reads it with the token generation, in the same statement (portal.api.tokens.share_read).
tokens.share_read("privileges", GENERATION_SQL)


def current_generation() -> int:
    shared = tokens.shared_value("privileges") if has_request_context() else None
    if shared is not None:
        return int(shared)
    return int(db.session.execute(text(GENERATION_SQL)).scalar() or 0)


def page_generation() -> int:
    """The generation as a page's kept parts read it: once a GET request (a page keeps several parts: the grid,
    the coverage, the staff list), otherwise at each call (a write in the request moves it on)."""
    from portal.core.workercache import read_once

    return read_once("privileges", current_generation)


def _load(generation: int) -> _Data:
    """Everything the check reads, as plain tuples; a few queries over indexed, modest tables."""
    data = _Data(generation=generation)
    paths = {dept_id: frozenset(int(p) for p in path.strip("/").split("/") if p) | {dept_id}
             for dept_id, path in db.session.execute(select(Department.id, Department.path))}
    for sid, number, dept, active, name in db.session.execute(
            select(Staff.id, Staff.employee_no, Staff.department_id, Staff.is_active, Staff.name)):
        data.staff[number.upper()] = (sid, paths.get(dept, frozenset({dept})), active, name)
    depts: dict[int, set[int]] = {}
    for tid, did in db.session.execute(select(TechnologyDepartment.technology_id, TechnologyDepartment.department_id)):
        depts.setdefault(tid, set()).add(did)
    national: dict[str, _Tech] = {}
    for row in db.session.execute(select(
            Technology.id, Technology.code, Technology.national_code, Technology.name, Technology.category,
            Technology.grade, Technology.restricted, Technology.new_tech, Technology.status,
            Technology.prerequisites).order_by(Technology.status, Technology.id)):
        tech = _Tech(row.id, row.code, row.name, row.category, int(row.grade), bool(row.restricted or row.new_tech),
                     bool(row.restricted), row.status == "active", frozenset(depts.get(row.id, ())),
                     tuple(row.prerequisites or ()))
        data.techs[row.code.upper()] = tech
        if row.national_code:
            national.setdefault(row.national_code.upper(), tech)  # active entries first
    for code, tech in national.items():
        data.techs.setdefault(code, tech)
    data.qual_names = dict(db.session.execute(select(QualificationType.code, QualificationType.name)).all())
    return data


PEOPLE_KEPT = 20_000  # more than a hospital's staff; a bound for a generation that lives very long


def _person(data: _Data, staff_id: int):
    """One person's privileges (granted, expired, suspended, or superseded after counting) and qualifications that
    can count, read once per generation: read after the generation, so never older than it (a later write moves
    the generation on)."""
    found = data.people.get(staff_id)
    if found is not None:
        return found
    privileges = tuple(
        _Priv(p.id, p.kind, int(p.grade or 0), frozenset(c for c in (p.categories or "").split(",") if c),
              p.technology_id, bool(p.can_order), bool(p.can_perform), p.valid_from, p.valid_to, p.status,
              p.ended_on)
        for p in db.session.execute(select(
            Privilege.id, Privilege.kind, Privilege.grade, Privilege.categories, Privilege.technology_id,
            Privilege.can_order, Privilege.can_perform, Privilege.valid_from, Privilege.valid_to, Privilege.status,
            Privilege.ended_on)
            .where(Privilege.staff_id == staff_id,
                   or_(Privilege.status.in_(("active", "expired", "suspended")),
                       # A superseded record answers for the days before its successor (a past date).
                       and_(Privilege.status == "superseded", Privilege.ended_on > Privilege.valid_from)))
            .order_by(Privilege.id)))
    quals = tuple((code, start, end) for code, start, end in db.session.execute(
        select(QualificationType.code, Qualification.valid_from, Qualification.valid_to)
        .join(QualificationType, QualificationType.id == Qualification.type_id)
        .where(Qualification.staff_id == staff_id, Qualification.status.in_(("active", "expired")))
        .order_by(Qualification.id)))
    if len(data.people) >= PEOPLE_KEPT:
        data.people.clear()
    found = data.people[staff_id] = (privileges, quals)
    data.person_loads += 1
    return found


def _covers(p: _Priv, tech: _Tech, right: str) -> bool:
    if not (p.can_perform if right == "perform" else p.can_order):
        return False
    if p.kind == "technology":
        return p.technology_id == tech.id
    return (not tech.own_only and p.grade >= tech.grade
            and (not p.categories or tech.category in p.categories))


def _decision(tech: _Tech, sid: int, allowed: bool, reason: str, privilege_id=None, missing=None) -> Decision:
    return Decision(allowed, reason, sid, tech.id, tech.code, tech.name, tech.grade, privilege_id, missing)


def check(staff_no: str, code: str, right: str, on_date: date) -> Decision:
    """The answer for one 工号, operation code (local or national), right ("perform" / "order") and day.

    Raises UnknownStaff / UnknownCode for what the portal does not know.
    """
    data = cache().current()
    person = data.staff.get((staff_no or "").strip().upper())
    if person is None:
        raise UnknownStaff(staff_no)
    tech = data.techs.get((code or "").strip().upper())
    if tech is None:
        raise UnknownCode(code)
    sid, departments, active, _ = person
    verb = RIGHTS[right]
    if not active:
        return _decision(tech, sid, False, "该人员已停用（离职或调出）。", missing={"type": "staff"})
    if not tech.active:
        return _decision(tech, sid, False, f"技术“{tech.name}”已在技术目录中停用。", missing={"type": "technology"})
    if tech.departments and not (tech.departments & departments):
        return _decision(tech, sid, False, f"本科室未获准开展“{tech.name}”。", missing={"type": "department"})
    privileges, quals = _person(data, sid)
    if tech.prerequisites:
        held = {c for c, start, end in quals
                if (start is None or start <= on_date) and (end is None or end >= on_date)}
        for needed in tech.prerequisites:
            if needed not in held:
                name = data.qual_names.get(needed, needed)
                return _decision(tech, sid, False, f"缺少有效的{name}（{tech.name}的前置资质）。",
                                 missing={"type": "qualification", "code": needed, "name": name})
    best = None
    for p in privileges:
        counts = held_on(p.status, p.ended_on, p.valid_from, p.valid_to, on_date)
        if counts and _covers(p, tech, right) and (best is None or (p.kind == "technology" != best.kind)):
            best = p
    if best is not None:
        what = "单项技术授权" if best.kind == "technology" else f"{GRADES.get(best.grade, '')}手术授权"
        return _decision(tech, sid, True, f"持有有效的{what}（{verb}，至 {best.valid_to.isoformat()}）。", best.id)
    covering = [p for p in privileges if _covers(p, tech, right)]
    missing = ({"type": "privilege", "kind": "technology", "technology": tech.code, "right": right}
               if tech.own_only else
               {"type": "privilege", "kind": "grade", "grade": tech.grade, "category": tech.category,
                "right": right})
    suspended = [p for p in covering if p.status == "suspended" and p.valid_from <= on_date <= p.valid_to]
    if suspended:
        return _decision(tech, sid, False, f"{verb}已暂停，暂停期间不能{_act(right)}。", suspended[0].id, missing)
    ended = sorted((p for p in covering if p.valid_to < on_date), key=lambda p: p.valid_to)
    if ended:
        return _decision(tech, sid, False, f"{verb}已于 {ended[-1].valid_to.isoformat()} 到期。", ended[-1].id,
                         missing)
    future = [p for p in covering if p.valid_from > on_date and p.status in ("active", "expired")]
    if future:
        return _decision(tech, sid, False, f"{verb}自 {future[0].valid_from.isoformat()} 起生效。", future[0].id,
                         missing)
    if tech.own_only:
        kind = "限制类技术" if tech.restricted else "新技术新项目"
        return _decision(tech, sid, False, f"“{tech.name}”是{kind}，须取得单项技术授权（分级授权不覆盖），"
                                           f"无{verb}。", missing=missing)
    return _decision(tech, sid, False, f"无“{tech.name}”（{GRADES.get(tech.grade, '')}手术）的{verb}。",
                     missing=missing)


def _act(right: str) -> str:
    return "开单" if right == "order" else "执行"


def covering_condition(right: str, technology=Technology, privilege=Privilege):
    """The SQL form of `_covers` for lists (who may perform an entry, what a person may perform): a privilege
    row (`privilege`: the table or an alias) with `right` covering the catalogue row `technology` (the table or an
    alias). A technology privilege
    covers its own entry; a grade privilege covers ordinary entries of its grade and below in its categories
    (none named: every category), never a restricted or new technology. Whether the privilege counts on a day
    is ``models.privileges.counts_condition``. Kept beside `_covers` so the two change together (a test compares
    them over every pair of a hand-built catalogue)."""
    from sqlalchemy import and_, literal, not_, or_

    p = privilege
    has_right = p.can_perform if right == "perform" else p.can_order
    in_categories = or_(p.categories == "",
                        (literal(",") + p.categories + literal(",")).contains(
                            literal(",") + technology.category + literal(",")))
    return and_(has_right.is_(True), or_(
        and_(p.kind == "technology", p.technology_id == technology.id),
        and_(p.kind != "technology", not_(or_(technology.restricted.is_(True), technology.new_tech.is_(True))),
             p.grade >= technology.grade, in_categories)))
