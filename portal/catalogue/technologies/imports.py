"""The hospital's operation dictionary as an Excel import (through portal/io): new entries, corrections with a
revision only where something changed, one summary audit record for the file.

A blank cell (or a column the file lacks) keeps what an existing entry has; a new entry then takes the default
(flags 否, status 启用, no departments). 生效日期 dates the revision (default: now); it may not lie in the future
nor before the entry's current revision.
"""

from __future__ import annotations

import re
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select, update

from portal.auth.models import Department
from portal.core.actor import current_actor
from portal.core.labels import field_label
from portal.core.timeutil import local_day_bounds, local_today, utcnow
from portal.extensions import db
from portal.io.columns import CellError, ImportColumn, parse_text, register_lookup
from portal.io.imports import ImportType, lookup_table, register, register_table_lookup
from portal.io.reader import RowResult

from ..models import CATEGORIES, FLAGS, Technology, TechnologyDepartment, TechnologyRevision
from .services import ENTITY, FIELDS, SEPARATORS, delete_departments, insert_departments, split_codes

# Text is NFKC-folded first: Roman numerals Ⅳ arrive as IV.
CHINESE_GRADES = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4,
                  "I": 1, "II": 2, "III": 3, "IV": 4}
GRADE_TEXT = re.compile(r"^(?:院内)?([一二三四1-4]|IV|III|II|I)(?:级)?(?:手术|操作)?$")
STATUS_WORDS = {"启用": "active", "在用": "active", "有效": "active", "正常": "active", "active": "active",
                "停用": "disabled", "禁用": "disabled", "无效": "disabled", "作废": "disabled", "disabled": "disabled"}
CATEGORY_WORDS = {**{label: code for code, label in CATEGORIES.items()}, **{code: code for code in CATEGORIES},
                  "手术操作": "surgery", "介入治疗": "interventional", "内镜诊疗": "endoscopy", "内镜手术": "endoscopy",
                  "有创": "invasive", "诊疗操作": "invasive"}


def parse_grade(value: Any) -> int:
    """1–4 as a number, or 一级…四级, 三级手术, 4级; anything else is refused."""
    if isinstance(value, bool):
        raise CellError("手术等级应为 1–4 或 一级–四级")
    if isinstance(value, (int, float)):
        if float(value).is_integer() and 1 <= value <= 4:
            return int(value)
        raise CellError(f"手术等级“{value}”无效，应为 1–4 或 一级–四级")
    text = parse_text(value, 20).replace(" ", "").upper()
    match = GRADE_TEXT.match(text)
    if not match:
        raise CellError(f"手术等级“{text}”无效，应为 1–4 或 一级–四级")
    return CHINESE_GRADES[match.group(1)]


def parse_category(value: Any) -> str:
    text = parse_text(value, 20)
    if text in CATEGORY_WORDS:
        return CATEGORY_WORDS[text]
    raise CellError(f"类别“{text}”无效，应为以下之一：{'、'.join(CATEGORIES.values())}")


def parse_status(value: Any) -> str:
    text = parse_text(value, 10).lower()
    if text in STATUS_WORDS:
        return STATUS_WORDS[text]
    raise CellError("状态应为“启用”或“停用”")


def parse_codes(value: Any) -> list[str]:
    return split_codes(parse_text(value, 500))


register_lookup("tech_grade", parse_grade)
register_lookup("tech_category", parse_category)
register_lookup("tech_status", parse_status)
register_lookup("code_list", parse_codes)


def _department_table() -> dict[str, Any]:
    """Every active department by code (any case) and by name, and each id's code (one query)."""
    words: dict[str, list[int]] = {}
    codes: dict[int, str] = {}
    for dept_id, code, name in db.session.execute(select(Department.id, Department.code, Department.name)
                                                  .where(Department.is_active)):
        codes[dept_id] = code
        for word in {code.upper(), name}:
            words.setdefault(word, []).append(dept_id)
    return {"words": words, "codes": codes}


def _resolve_departments(value: Any, table: dict[str, Any]) -> list[int]:
    """Department codes or names separated by 、,; (or spaces): their ids; every unknown one is named."""
    text = parse_text(value, 2000)
    found, unknown, ambiguous = [], [], []
    for word in (w for w in SEPARATORS.split(text) if w):
        ids = table["words"].get(word) or table["words"].get(word.upper()) or []
        if not ids:
            unknown.append(word)
        elif len(ids) > 1:
            ambiguous.append(word)
        elif ids[0] not in found:
            found.append(ids[0])
    if unknown:
        raise CellError(f"找不到科室“{'、'.join(unknown)}”（可填科室代码或名称，用“、”分隔）")
    if ambiguous:
        raise CellError(f"有多个名为“{'、'.join(ambiguous)}”的科室，请改填科室代码")
    return sorted(found)


register_table_lookup("tech_departments", _department_table, _resolve_departments)

FLAG_ALIASES = {"perf_grade4": ("四级手术", "绩效四级手术"), "minimally_invasive": ("绩效考核微创手术", "微创手术"),
                "day_surgery": ("日间手术",), "restricted": ("限制类",), "new_tech": ("新技术",)}

COLUMNS = [
    ImportColumn("code", "院内编码", required=True, aliases=("院内手术编码", "手术编码"), max_length=40,
                 help="医院手术字典中的编码，用于识别同一条目"),
    ImportColumn("national_code", "国家临床版3.0编码", aliases=("国家临床版编码", "临床版3.0编码", "国家编码"),
                 max_length=40),
    ImportColumn("insurance_code", "医保版2.0编码", aliases=("医保版编码", "医保编码"), max_length=40),
    ImportColumn("name", "名称", required=True, aliases=("手术名称", "技术名称", "手术操作名称"), max_length=200),
    ImportColumn("category", "类别", kind="tech_category", required=True, aliases=("手术类别",),
                 help="、".join(CATEGORIES.values())),
    ImportColumn("grade", "等级", kind="tech_grade", required=True, aliases=("手术等级", "院内手术等级"),
                 help="1–4，或 一级–四级、三级手术"),
    *(ImportColumn(flag, label, kind="bool", aliases=FLAG_ALIASES[flag], help="是/否（Y/N、√）；留空不改变")
      for flag, label in FLAGS.items()),
    ImportColumn("departments", "可开展科室", kind="tech_departments", aliases=("科室",),
                 help="科室代码或名称，用“、”分隔；留空不改变"),
    ImportColumn("prerequisites", "前置资质", kind="code_list", help="资质类型代码，用“、”分隔；留空不改变"),
    ImportColumn("status", "状态", kind="tech_status", help="启用/停用；新条目留空为启用"),
    ImportColumn("note", "备注", max_length=2000),
    ImportColumn("effective_date", "生效日期", kind="date", help="版本生效的日期，留空为导入时；不能晚于今天"),
]


def _find(keys: list[tuple]) -> dict[tuple, Any]:
    """Existing entries by code: plain rows with their department codes and latest revision's start."""
    codes = sorted({k[0] for k in keys if k[0]})
    found: dict[tuple, Any] = {}
    department_codes = lookup_table("tech_departments")["codes"] if codes else {}  # shared by every record
    columns = [getattr(Technology, f) for f in FIELDS if f != "departments"]
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        rows = db.session.execute(select(Technology.id, Technology.revision, *columns)
                                  .where(func.upper(Technology.code).in_(chunk))).mappings().all()
        ids = [r["id"] for r in rows]
        depts: dict[int, list[str]] = {i: [] for i in ids}
        starts: dict[int, datetime] = {}
        if ids:
            for tech_id, code in db.session.execute(
                    select(TechnologyDepartment.technology_id, Department.code)
                    .join(Department, Department.id == TechnologyDepartment.department_id)
                    .where(TechnologyDepartment.technology_id.in_(ids))):
                depts[tech_id].append(code)
            starts = {tech_id: start for tech_id, start in db.session.execute(
                select(TechnologyRevision.technology_id, func.max(TechnologyRevision.valid_from))
                .where(TechnologyRevision.technology_id.in_(ids)).group_by(TechnologyRevision.technology_id))}
        for row in rows:
            state = {f: row[f] for f in FIELDS if f != "departments"}
            state["prerequisites"] = list(state["prerequisites"] or [])
            state["departments"] = sorted(depts[row["id"]])
            found[(row["code"].upper(),)] = SimpleNamespace(id=row["id"], revision=row["revision"], state=state,
                                                            valid_from=starts.get(row["id"]), codes=department_codes)
    return found


def _wanted(values: dict[str, Any], current: dict[str, Any] | None, codes: dict[int, str]) -> dict[str, Any]:
    """The state a row asks for: its cells, and for blank ones what the entry has (or the default).

    ``codes``: department id -> code, loaded once per file."""
    current = current or {}
    state = {}
    for name in FIELDS:
        value = values.get(name)
        if name == "departments" and value is not None:
            value = sorted(codes[i] for i in value)
        if value is None:
            value = current.get(name)
        if value is None:
            value = {"status": "active", "departments": [], "prerequisites": [], "national_code": "",
                     "insurance_code": "", "note": ""}.get(name, False if name in FLAGS else None)
        state[name] = value
    for name in ("national_code", "insurance_code"):
        state[name] = "".join(str(state[name] or "").split())
    state["code"] = values["code"]
    return state


def _valid_from(values: dict[str, Any], now: datetime) -> datetime:
    day = values.get("effective_date")
    return local_day_bounds(day)[0] if day is not None else now


def changed_fields(values: dict[str, Any], existing: Any) -> list[str]:
    """The labels of the fields a row would change on an existing entry (empty: unchanged)."""
    wanted = _wanted(values, existing.state, existing.codes)
    return [field_label(ENTITY, name) for name in FIELDS if wanted[name] != existing.state.get(name)]


def check_rows(rows: list[RowResult]) -> None:
    """生效日期 not in the future, and not before the entry's current revision (one query for the file)."""
    dated = [row for row in rows if row.values.get("effective_date") is not None]
    if not dated:
        return
    today = local_today()
    existing = _find([(row.values["code"],) for row in dated])
    for row in dated:
        day = row.values["effective_date"]
        if day > today:
            row.errors.append(("生效日期", day.isoformat(), "生效日期不能晚于今天"))
            continue
        current = existing.get((row.values["code"].upper(),))
        if current is not None and current.valid_from is not None and local_day_bounds(day)[0] <= current.valid_from:
            row.errors.append(("生效日期", day.isoformat(),
                               "生效日期应晚于该条目当前版本的生效时间，历史版本不能改写"))


def _write_many(new: list[dict[str, Any]], corrections: list[tuple[dict[str, Any], Any]]) -> list[tuple]:
    """Insert new entries and apply changed ones in bulk; a revision for each entry written."""
    now, author = utcnow(), current_actor().user_id
    table = lookup_table("tech_departments")
    words, codes = table["words"], table["codes"]
    revisions, links = [], []
    if new:
        states = [_wanted(values, None, codes) for values in new]
        ids = db.session.scalars(
            insert(Technology).returning(Technology.id, sort_by_parameter_order=True),
            [{**{k: v for k, v in state.items() if k != "departments"}, "revision": 1, "created_at": now,
              "updated_at": now, "created_by_id": author} for state in states]).all()
        for tech_id, state, values in zip(ids, states, new, strict=True):
            revisions.append({"technology_id": tech_id, "revision": 1, "valid_from": _valid_from(values, now),
                              "data": state, "reason": "字典导入：新增", "changed_by_id": author, "source": "import",
                              "created_at": now, "updated_at": now, "created_by_id": author})
            links += [(tech_id, words[code.upper()][0]) for code in state["departments"]]
    changes, keys, relinked = [], [], []
    for values, existing in corrections:
        state = _wanted(values, existing.state, codes)
        if state == existing.state:
            continue
        labels = "、".join(field_label(ENTITY, n) for n in FIELDS if state[n] != existing.state.get(n))
        changes.append({"id": existing.id, **{k: v for k, v in state.items() if k != "departments"},
                        "revision": existing.revision + 1, "updated_at": now})
        revisions.append({"technology_id": existing.id, "revision": existing.revision + 1,
                          "valid_from": _valid_from(values, now), "data": state,
                          "reason": f"字典导入：修改{labels}", "changed_by_id": author, "source": "import",
                          "created_at": now, "updated_at": now, "created_by_id": author})
        if state["departments"] != existing.state["departments"]:
            relinked.append(existing.id)
            links += [(existing.id, words[code.upper()][0]) for code in state["departments"]]
        keys.append((values["code"],))
    if changes:
        db.session.execute(update(Technology), changes)  # bulk UPDATE by primary key
    delete_departments(relinked)
    insert_departments(links)
    if revisions:
        db.session.execute(insert(TechnologyRevision), revisions)
    touched = {c["id"] for c in changes}
    for obj in list(db.session.identity_map.values()):  # written past the ORM: loaded copies read again
        if isinstance(obj, Technology) and obj.id in touched:
            db.session.expire(obj)
    return keys


TECHNOLOGY_IMPORT = register(ImportType(
    code="technology", label="手术操作字典", columns=COLUMNS, key=("code",), codes=("code",), find_existing=_find,
    write_many=_write_many, check_rows=check_rows, compare=changed_fields, max_rows=20_000,
    permission="catalogue.manage", personal_data=False,
    example=("SS0001", "47.0100x001", "47.0100x001", "腹腔镜下阑尾切除术", "手术", "二级", "否", "是", "是", "否", "否",
             "PTWK", "YSZYZ", "启用", "", "")))
assert len(TECHNOLOGY_IMPORT.example) == len(COLUMNS)
