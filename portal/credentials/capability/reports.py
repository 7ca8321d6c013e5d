"""Capability reports (能力展示), declared on the registry (portal/reports): privileges counting on a day, by
department, by person, and by grade and category.

The period picks the day: privileges that count at the end of the period (today for the month in progress),
so a past month reads what held then and 同比 / 环比 compare two such days. Every number opens its rows (the
privilege records, or the people for 人数). Scoped by the department of the holder through
credentials.view_privileges: a department head sees their departments, medical affairs all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta

from sqlalchemy import and_, case, false, func, literal, or_, select, union_all
from sqlalchemy.orm import selectinload

from portal.auth.models import Department, Staff
from portal.catalogue.models.technologies import CATEGORIES, Technology
from portal.core.timeutil import local_today
from portal.core.workercache import worker_cache
from portal.io.export import Column as Shown
from portal.reports.registry import Chart, Choice, Column, Drill, Report, ResultCache, register

from .. import VIEW_PRIVILEGES
from ..models.privileges import GRADES, KINDS, Privilege, counts_condition

EXPIRING_DAYS = 90
GRADE_CHOICES = {str(g): label for g, label in GRADES.items()}
RIGHT_CHOICES = {"perform": "有执行权", "order": "有开单权"}
FLAG_CHOICES = {"own_only": "限制类技术或新技术", "ordinary": "普通技术（含分级授权）"}
EFFECTIVE_GRADE = func.coalesce(Privilege.grade, Technology.grade)
OWN_ONLY = or_(Technology.restricted.is_(True), Technology.new_tech.is_(True))
DEFINITION = ("统计对象：所选期间末日（当月为今天）仍有效的授权记录"
              "（状态有效、授权期限包含该日；已暂停、已撤销、已调整的不计），"
              "持有人为在岗人员，按持有人所在科室归属。\n"
              "级别：分级授权取所授级别，单项技术授权取该技术在技术目录中的级别。类别：单项技术授权取技术的类别；"
              "分级授权计入其授权的每一个类别（未限定类别的计入全部类别）。\n"
              f"即将到期：授权截止日在该日起 {EXPIRING_DAYS} 天内。限制类技术与新技术只能单项授权，分级授权不覆盖。")


def as_of(params):
    """The day a run counts privileges on: the end of the period, never later than today."""
    return min(params.end, local_today())


def category_condition(code):
    """The privilege covers entries of this category (a value or a column)."""
    code = literal(code) if isinstance(code, str) else code
    return or_(and_(Privilege.kind == "technology", Technology.category == code),
               and_(Privilege.kind != "technology",
                    or_(Privilege.categories == "",
                        (literal(",") + Privilege.categories + literal(",")).contains(literal(",") + code
                                                                                      + literal(",")))))


def held(stmt, params):
    """Privilege records counting on the run's day, of staff still working, joined to their holder and entry."""
    return (stmt.select_from(Privilege).join(Staff, Staff.id == Privilege.staff_id)
            .outerjoin(Technology, Technology.id == Privilege.technology_id)
            .where(counts_condition(as_of(params)), Staff.is_active.is_(True)))


class OwnOnlyTechnologies(Mapping):
    """The technology filter's choices: the restricted and new technologies (code -> "name（code）"), which only
    their own privilege covers. Every capability report page shows them (hundreds at a hospital), so each worker
    keeps them until the catalogue changes: the privilege check's generation, bumped by any write to
    technologies, is read once a request instead of the catalogue.
    Ordinary entries are covered by grade: who may perform one is the catalogue's 可开展人员 page."""

    def _entries(self) -> dict[str, str]:
        from flask import g

        from portal.extensions import db

        from ..privileges.check import page_generation

        found = g.get("capability_own_only_technologies")
        if found is None:
            generation = page_generation()
            found = worker_cache("capability_own_only_technologies").get(generation, "")
            if found is None:
                found = {code: f"{name}（{code}）" for code, name in db.session.execute(
                    select(Technology.code, Technology.name).where(OWN_ONLY).order_by(Technology.code))}
                worker_cache("capability_own_only_technologies").put(generation, "", found)
            g.capability_own_only_technologies = found
        return found

    def __getitem__(self, code):
        return self._entries()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def items(self):  # the filter bar lists every entry: one lookup, not one per entry
        return self._entries().items()


def _technology(stmt, code):
    return stmt.where(Privilege.kind == "technology", Technology.code == code)


def _right(stmt, value):
    return stmt.where((Privilege.can_perform if value == "perform" else Privilege.can_order).is_(True))


def _flag(stmt, value):
    return stmt.where(OWN_ONLY if value == "own_only" else ~OWN_ONLY)


FILTERS = (
    Choice("grade", "手术级别", GRADE_CHOICES, apply=lambda stmt, v: stmt.where(int(v) == EFFECTIVE_GRADE),
           blank="全部级别"),
    Choice("category", "类别", CATEGORIES, apply=lambda stmt, v: stmt.where(category_condition(v)), blank="全部类别"),
    Choice("kind", "授权方式", KINDS, column=Privilege.kind, blank="全部方式"),
    Choice("right", "权限", RIGHT_CHOICES, apply=_right, blank="开单或执行"),
    Choice("flag", "技术类型", FLAG_CHOICES, apply=_flag, blank="全部技术"),
    Choice("technology", "限制类/新技术", OwnOnlyTechnologies(), apply=_technology, blank="全部限制类/新技术"),
)


def _expiring(params):
    return Privilege.valid_to <= as_of(params) + timedelta(days=EXPIRING_DAYS)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def department_names(ids: list) -> dict:
    from portal.extensions import db

    return dict(db.session.execute(select(Department.id, Department.name).where(Department.id.in_(ids))).all())


def staff_names(ids: list) -> dict:
    from portal.extensions import db

    return {sid: f"{name}（{number}）" for sid, name, number in db.session.execute(
        select(Staff.id, Staff.name, Staff.employee_no).where(Staff.id.in_(ids)))}


# --- drill-downs: the privilege records, or the people -----------------------------------------------------------

def _keyed(stmt, keys):
    """Restrict rows to the clicked row's dimension values (a bad value is a 400 through ValueError)."""
    if "department_id" in keys:
        stmt = stmt.where(Staff.department_id == int(keys["department_id"] or 0))
    if "staff_id" in keys:
        stmt = stmt.where(Staff.id == int(keys["staff_id"] or 0))
    if "grade" in keys:
        grade = int(keys["grade"] or 0)
        if grade not in GRADES:
            raise ValueError(grade)
        stmt = stmt.where(grade == EFFECTIVE_GRADE)
    if "category" in keys:
        if keys["category"] not in CATEGORIES:
            raise ValueError(keys["category"])
        stmt = stmt.where(category_condition(keys["category"]))
    return stmt


def privilege_rows(condition=None):
    """The privilege records behind a count (with an extra condition of the column)."""

    def rows(params, keys):
        stmt = held(select(Privilege), params)
        if condition is not None:
            stmt = stmt.where(condition(params))
        return _keyed(stmt, keys).order_by(Privilege.valid_to, Privilege.id)

    return rows


def people_rows(params, keys):
    """The people behind a 人数: one row each (grouped by the primary key; the department loads separately)."""
    stmt = (held(select(Staff), params).options(selectinload(Staff.department)).group_by(Staff.id))
    return _keyed(stmt, keys).order_by(Staff.employee_no)


def _today_state(p):
    return p.state_label(local_today())


PRIVILEGE_COLUMNS = (
    Shown("工号", lambda p: p.staff.employee_no, 10),
    Shown("姓名", lambda p: p.staff.name, 10),
    Shown("科室", lambda p: p.staff.department.name, 14),
    Shown("授权方式", lambda p: KINDS.get(p.kind, p.kind), 12),
    Shown("授权范围", lambda p: p.scope_label, 32),
    Shown("级别", lambda p: GRADES.get(p.grade or (p.technology.grade if p.technology else 0), ""), 8),
    Shown("权限", lambda p: p.rights_label, 14),
    Shown("授权起", lambda p: p.valid_from, 12),
    Shown("授权至", lambda p: p.valid_to, 12),
    Shown("当前状态", _today_state, 10),
)
PEOPLE_COLUMNS = (
    Shown("工号", lambda s: s.employee_no, 10),
    Shown("姓名", lambda s: s.name, 10),
    Shown("科室", lambda s: s.department.name, 14),
    Shown("职称", lambda s: s.title, 10),
)
SORT = ({"ends": Privilege.valid_to, "number": Staff.employee_no}, "ends", Privilege.id)
SORT_HEADERS = {"授权至": "ends", "工号": "number"}


def privileges_drill(title: str, condition=None) -> Drill:
    return Drill(rows=privilege_rows(condition), columns=PRIVILEGE_COLUMNS, title=title, sort=SORT,
                 sort_headers=SORT_HEADERS)


PEOPLE_DRILL = Drill(rows=people_rows, columns=PEOPLE_COLUMNS, title="授权人员明细")


def _grade_condition(grade: int):
    return lambda params: grade == EFFECTIVE_GRADE


def _measure_columns():
    """Counts shared by the department and person reports, each drilling to its privilege records."""
    return (
        Column("privileges", "有效授权（条）", drill=privileges_drill("有效授权明细")),
        *(Column(f"grade{g}", f"{label}（条）", width=10,
                 drill=privileges_drill(f"{label}授权明细", _grade_condition(g))) for g, label in GRADES.items()),
        Column("technology", "单项技术（条）", width=12,
               drill=privileges_drill("单项技术授权明细", lambda params: Privilege.kind == "technology")),
        Column("own_only", "限制类/新技术（条）", width=14,
               drill=privileges_drill("限制类技术与新技术授权明细", lambda params: OWN_ONLY)),
        Column("expiring", f"{EXPIRING_DAYS}天内到期（条）", width=14,
               drill=privileges_drill("即将到期授权明细", _expiring)),
    )


def _measures(params):
    return (func.count(Privilege.id).label("privileges"),
            *(_count_if(g == EFFECTIVE_GRADE).label(f"grade{g}") for g in GRADES),
            _count_if(Privilege.kind == "technology").label("technology"),
            _count_if(OWN_ONLY).label("own_only"),
            _count_if(_expiring(params)).label("expiring"))


def _scope(stmt, user, permission):
    from portal.core.scoping import scope_query

    return scope_query(stmt, Staff.department_id, user.principal, permission)


def _generation():
    from ..privileges.check import page_generation

    return page_generation()


# Every number reads privileges, staff and the catalogue, and the labels departments and staff: all of them move
# the privilege generation, so each worker keeps a result (per filters, scope and day) until one of them changes.
COMMON = {"permission": VIEW_PRIVILEGES, "definition": DEFINITION, "department_column": Staff.department_id,
          "scope": _scope, "filters": FILTERS, "group": "能力展示", "empty": "该日没有有效授权。",
          "cache": ResultCache(_generation)}


def _by_department(params):
    return (held(select(Staff.department_id.label("department_id"),
                        func.count(func.distinct(Privilege.staff_id)).label("holders"), *_measures(params)), params)
            .group_by(Staff.department_id).order_by(func.count(Privilege.id).desc(), Staff.department_id))


BY_DEPARTMENT = register(Report(
    code="cap_department_privileges", title="科室授权能力表",
    query=_by_department,
    columns=(Column("department_id", "科室", fmt="text", labels=department_names, key_type=int, width=16),
             Column("holders", "授权人数", total="query", drill=PEOPLE_DRILL),
             *_measure_columns()),
    chart=Chart("bar", "department_id", tuple(f"grade{g}" for g in GRADES)),
    summary="各科室有效授权的人数与条数：按级别、单项技术、限制类与新技术、即将到期", **COMMON))


def _by_person(params):
    """One row per person of the chosen department (and its wards): a hospital has thousands, so the table waits
    for a department (the department report and its 人数 drill-down answer hospital-wide)."""
    stmt = (held(select(Staff.department_id.label("department_id"), Staff.id.label("staff_id"),
                        *_measures(params),
                        func.max(case((Privilege.kind != "technology", Privilege.grade), else_=None))
                        .label("highest")), params)
            .group_by(Staff.department_id, Staff.id, Staff.employee_no).order_by(Staff.department_id,
                                                                                 Staff.employee_no))
    return stmt if params.department_id else stmt.where(false())


BY_PERSON = register(Report(
    code="cap_person_privileges", title="个人授权明细",
    query=_by_person,
    columns=(Column("department_id", "科室", fmt="text", labels=department_names, key_type=int, width=14),
             Column("staff_id", "人员", fmt="text", labels=staff_names, key_type=int, width=16),
             Column("highest", "最高分级", total=None, compare=False, width=10,
                    drill=privileges_drill("分级授权明细", lambda params: Privilege.kind != "technology")),
             *_measure_columns()),
    summary="所选科室每位在岗人员的有效授权：最高分级、各级条数、单项技术、即将到期",
    **{**COMMON, "empty": "请先选择科室（个人授权明细按科室列出人员）；已选科室时表示该日没有有效授权。"}))


def _categories():
    return union_all(*(select(literal(code).label("code")) for code in CATEGORIES)).subquery("categories")


def _by_grade_category(params):
    cats = _categories()
    grade = EFFECTIVE_GRADE.label("grade")
    order = case({code: i for i, code in enumerate(CATEGORIES)}, value=cats.c.code)
    return (held(select(grade, cats.c.code.label("category"),
                        func.count(func.distinct(Privilege.staff_id)).label("holders"),
                        func.count(func.distinct(Privilege.id)).label("privileges")), params)
            .join(cats, category_condition(cats.c.code))
            .group_by(EFFECTIVE_GRADE, cats.c.code).order_by(EFFECTIVE_GRADE.desc(), func.min(order)))


BY_GRADE_CATEGORY = register(Report(
    code="cap_grade_category", title="授权分布（级别×类别）",
    query=_by_grade_category,
    columns=(Column("grade", "级别", fmt="text", labels=GRADES, key_type=int, width=8),
             Column("category", "类别", fmt="text", labels=CATEGORIES, width=10),
             Column("holders", "授权人数", total="query", drill=PEOPLE_DRILL),
             Column("privileges", "有效授权（条）", total="query", drill=privileges_drill("有效授权明细"))),
    summary="各级别、各类别持有有效授权的人数与条数（分级授权计入其每个类别）", **COMMON))
