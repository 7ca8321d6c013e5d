"""The first load of privileges granted on paper, from Excel (through `portal/io/`): staff by 工号, technologies by
local or national code, or a grade with its categories.

Every row is checked before anything is written (unknown 工号 or code, a row with both or neither of a code and
a grade, a grade without categories, no right, an end before the start, the same scope twice in the file or
already held); a clean file is inserted in bulk (valid at once: medical affairs saw the paper) and audited by
the framework's one summary record. Applications and adjustments go through the approval engine instead.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from portal.catalogue.models.technologies import CATEGORIES, Technology
from portal.core.actor import current_actor
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db
from portal.io.bulk import insert_rows
from portal.io.columns import CellError, ImportColumn, parse_text
from portal.io.imports import ImportType, lookup_table, register, register_table_lookup

from ..models.privileges import GRADES, Privilege

CATEGORY_BY_TEXT = {**{k: k for k in CATEGORIES}, **{v: k for k, v in CATEGORIES.items()}}


def _technology_table() -> dict:
    table: dict = {}
    for tid, code, national, name in db.session.execute(select(Technology.id, Technology.code,
                                                                Technology.national_code, Technology.name)
                                                         .order_by(Technology.status, Technology.id)):
        table[code.upper()] = SimpleNamespace(id=tid, name=name)
        if national:
            table.setdefault(national.upper(), SimpleNamespace(id=tid, name=name))
    return table


def _technology(value: Any, table: dict) -> int:
    text = "".join(parse_text(value, 40).split()).upper()
    if text not in table:
        raise CellError(f"技术目录中没有编码“{text}”（院内编码或国家临床版编码）")
    return table[text].id


register_table_lookup("privilege_technology", _technology_table, _technology)

COLUMNS = [
    ImportColumn("staff_id", "工号", kind="qualification_staff", required=True, aliases=("员工号", "职工号")),
    ImportColumn("name", "姓名", max_length=50, help="可选；填写时须与工号对应的人员一致"),
    ImportColumn("technology_id", "技术编码", kind="privilege_technology", aliases=("手术编码", "操作编码"),
                 help="单项技术授权填写（院内或国家临床版编码）；分级授权留空"),
    ImportColumn("grade", "手术级别", kind="enum", choices={str(k): v for k, v in GRADES.items()},
                 help="分级授权填写：一级至四级（或 1–4）"),
    ImportColumn("categories", "类别", max_length=100, help="分级授权填写，多个用顿号分隔，如 手术、内镜"),
    ImportColumn("can_order", "开单权", kind="bool", required=True),
    ImportColumn("can_perform", "执行权", kind="bool", required=True),
    ImportColumn("valid_from", "授权起", kind="date", required=True, aliases=("授权开始", "生效日期")),
    ImportColumn("valid_to", "授权至", kind="date", required=True, aliases=("授权截止", "到期日期")),
]
HEADERS = {c.name: c.header for c in COLUMNS}


def _categories(text: str | None) -> tuple[list[str], list[str]]:
    parts = [p.strip() for p in (text or "").replace("，", "、").replace(",", "、").split("、") if p.strip()]
    return sorted({CATEGORY_BY_TEXT[p] for p in parts if p in CATEGORY_BY_TEXT}), [p for p in parts
                                                                                 if p not in CATEGORY_BY_TEXT]


def _validate(values: dict[str, Any]) -> list[tuple[str, str]]:
    errors = []
    has_tech, has_grade = values.get("technology_id") is not None, values.get("grade") is not None
    if has_tech == has_grade:
        errors.append(("技术编码", "技术编码与手术级别须填且只填一项（单项技术授权或分级授权）"))
    cats, unknown = _categories(values.get("categories"))
    if unknown:
        errors.append(("类别", f"不认识的类别：{'、'.join(unknown)}（可填 {'、'.join(CATEGORIES.values())}）"))
    elif has_grade and not cats:
        errors.append(("类别", "分级授权须填写类别"))
    if not (values.get("can_order") or values.get("can_perform")):
        errors.append(("执行权", "开单权与执行权至少有一项为“是”"))
    if values.get("valid_from") and values.get("valid_to") and values["valid_to"] < values["valid_from"]:
        errors.append(("授权至", "授权至不能早于授权起"))
    if values.get("name"):
        staff_name = lookup_table("qualification_staff")["names"].get(values["staff_id"])
        if staff_name != values["name"]:
            errors.append(("姓名", f"工号对应的人员是“{staff_name}”，与姓名不符"))
    return errors


def _check_held(rows) -> None:
    """A scope the person already holds (active) is an error of its row: one query per file."""
    staff_ids = sorted({row.values["staff_id"] for row in rows if row.values.get("staff_id")})
    held: set[tuple] = set()
    for start in range(0, len(staff_ids), 500):
        held.update(tuple(r) for r in db.session.execute(
            select(Privilege.staff_id, Privilege.technology_id, Privilege.grade).where(
                Privilege.staff_id.in_(staff_ids[start:start + 500]),
                Privilege.status.in_(("active", "suspended", "pending", "returned")))).all())
    for row in rows:
        v = row.values
        grade = int(v["grade"]) if v.get("grade") else None
        if (v.get("staff_id"), v.get("technology_id"), grade) in held:
            row.errors.append(("技术编码", v.get("technology_id") or v.get("grade"),
                               "该人员已有此范围的有效授权或进行中的申请，请勿重复导入"))


def _write_many(new: list[dict[str, Any]], corrections: list) -> list[tuple]:
    now, today, author = utcnow(), local_today(), current_actor().user_id
    if new:
        insert_rows(Privilege.__table__, [{
            "staff_id": v["staff_id"], "kind": "technology" if v.get("technology_id") else "grade",
            "grade": int(v["grade"]) if v.get("grade") else None,
            "categories": ",".join(_categories(v.get("categories"))[0]) if v.get("grade") else "",
            "technology_id": v.get("technology_id"), "can_order": bool(v["can_order"]),
            "can_perform": bool(v["can_perform"]), "valid_from": v["valid_from"], "valid_to": v["valid_to"],
            "status": "expired" if v["valid_to"] < today else "active", "action": "apply",
            "reason": "批量导入（纸质授权首次录入）", "source": "import", "created_at": now, "updated_at": now,
            "created_by_id": author} for v in new])
    return []  # nothing is ever corrected: a held scope is a row error


PRIVILEGE_IMPORT = register(ImportType(
    code="privileges", label="授权（首次批量录入）", columns=COLUMNS, key=("staff_id", "technology_id", "grade"),
    find_existing=lambda keys: {}, write_many=_write_many, validate_row=_validate, check_rows=_check_held,
    max_rows=50_000, permission="credentials.manage_privileges",
    example=("A1001", "张三", "", "三级", "手术、内镜", "是", "是", "2024-01-01", "2026-12-31")))

