"""The first load of qualifications from Excel (through `portal/io/`): staff by 工号, types by name or code.

Every row is checked before anything is written (unknown 工号 or type, dates that are not dates, an end before
the start, a level the type does not have, a certificate number already in the file or already registered);
a clean file is inserted in bulk and audited by the framework's one summary record.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from portal.auth.models import Staff
from portal.core.actor import current_actor
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db
from portal.io.bulk import insert_rows
from portal.io.columns import CellError, ImportColumn, parse_text
from portal.io.imports import ImportType, lookup_table, register, register_table_lookup

from ..models.qualifications import Qualification, QualificationType
from .services import check_record


def _staff_table() -> dict:
    """Every member of staff by 工号 (upper case), and their names by id: one query per file."""
    table: dict = {"names": {}}
    for sid, number, name in db.session.execute(select(Staff.id, Staff.employee_no, Staff.name)):
        table[number.upper()] = sid
        table["names"][sid] = name
    return table


def _staff(value: Any, table: dict) -> int:
    text = "".join(parse_text(value, 32).split()).upper()
    if text not in table or text == "NAMES":
        raise CellError(f"找不到工号“{text}”的人员，请先导入人员档案")
    return table[text]


def _type_table() -> dict:
    types = {}
    for item in db.session.scalars(select(QualificationType).where(QualificationType.is_active)):
        plain = SimpleNamespace(id=item.id, name=item.name, expires=item.expires, level_list=item.level_list)
        types[item.name] = types[item.code] = types[item.id] = plain
    return types


def _type(value: Any, table: dict) -> int:
    text = parse_text(value, 100)
    found = table.get(text) or table.get(text.upper())
    if found is None:
        raise CellError(f"找不到资质类型“{text}”（可填类型名称或代码，见“资质类型”页）")
    return found.id


register_table_lookup("qualification_staff", _staff_table, _staff)
register_table_lookup("qualification_type", _type_table, _type)

COLUMNS = [
    ImportColumn("staff_id", "工号", kind="qualification_staff", required=True, aliases=("员工号", "职工号")),
    ImportColumn("name", "姓名", max_length=50, help="可选；填写时须与工号对应的人员一致"),
    ImportColumn("type_id", "资质类型", kind="qualification_type", required=True, aliases=("资质", "资质名称"),
                 help="类型名称或代码，如 医师执业证书"),
    ImportColumn("level", "级别", max_length=32, help="有级别的资质必填，如 限制使用级"),
    ImportColumn("number", "证书编号", max_length=64, aliases=("编号", "证书号")),
    ImportColumn("issuer", "发证机关", max_length=100),
    ImportColumn("issued_on", "发证日期", kind="date"),
    ImportColumn("valid_from", "有效期起", kind="date", aliases=("生效日期", "有效期开始")),
    ImportColumn("valid_to", "有效期至", kind="date", aliases=("到期日期", "有效期截止", "失效日期")),
    ImportColumn("scope", "执业范围", max_length=200, aliases=("范围", "岗位说明")),
    ImportColumn("note", "备注", max_length=2000),
]
HEADERS = {c.name: c.header for c in COLUMNS}


def _validate(values: dict[str, Any]) -> list[tuple[str, str]]:
    kind = lookup_table("qualification_type")[values["type_id"]]
    errors = [(HEADERS[name], message) for name, message in check_record(
        kind, level=values.get("level") or "", number=values.get("number") or "", valid_from=values.get("valid_from"),
        valid_to=values.get("valid_to"), issued_on=values.get("issued_on"))]
    if values.get("name"):
        staff_name = lookup_table("qualification_staff")["names"].get(values["staff_id"])
        if staff_name != values["name"]:
            errors.append(("姓名", f"工号对应的人员是“{staff_name}”，与姓名不符"))
    return errors


def _check_numbers(rows) -> None:
    """A certificate number already registered (for the same type) is an error of its row: one query per file."""
    numbers = sorted({row.values["number"] for row in rows if row.values.get("number")})
    taken: set[tuple[int, str]] = set()
    for start in range(0, len(numbers), 500):
        taken.update((type_id, number) for type_id, number in db.session.execute(
            select(Qualification.type_id, Qualification.number).where(
                Qualification.number.in_(numbers[start:start + 500]),
                Qualification.status.notin_(("rejected", "withdrawn", "superseded")))))
    for row in rows:
        if (row.values["type_id"], row.values.get("number")) in taken:
            row.errors.append(("证书编号", row.values["number"], "该证书编号已登记，不能重复导入"))


def _write_many(new: list[dict[str, Any]], corrections: list) -> list[tuple]:
    now, today, author = utcnow(), local_today(), current_actor().user_id
    if new:
        insert_rows(Qualification.__table__, [{
            "staff_id": v["staff_id"], "type_id": v["type_id"], "level": v.get("level") or "",
            "number": v.get("number") or "", "issuer": v.get("issuer") or "", "issued_on": v.get("issued_on"),
            "valid_from": v.get("valid_from"), "valid_to": v.get("valid_to"), "scope": v.get("scope") or "",
            "note": v.get("note") or "", "source": "import",
            "status": "expired" if v.get("valid_to") and v["valid_to"] < today else "active",
            "created_at": now, "updated_at": now, "created_by_id": author} for v in new])
    return []  # nothing is ever corrected: a registered number is a row error


QUALIFICATION_IMPORT = register(ImportType(
    code="qualifications", label="资质（首次批量录入）", columns=COLUMNS, key=("type_id", "number"),
    compact=("number",), find_existing=lambda keys: {}, write_many=_write_many, validate_row=_validate,
    check_rows=_check_numbers, max_rows=50_000, permission="credentials.manage_qualifications",
    example=("A1001", "张三", "医师执业证书", "", "110440100012345", "广西壮族自治区卫生健康委员会", "2020-07-01",
             "2020-07-01", "2030-06-30", "内科专业", "")))
