"""The staff register from HR as an Excel import (the first user of the import framework)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from portal.extensions import db
from portal.io.columns import CellError, ImportColumn, parse_text, register_lookup
from portal.io.imports import ImportType, register

from . import org
from .models import Department, Staff


def department_by_name_or_code(value: Any) -> int:
    text = parse_text(value, 100)
    found = db.session.scalars(select(Department.id).where(
        Department.is_active, or_(Department.code == text, Department.name == text))).all()
    if not found:
        raise CellError(f"找不到科室“{text}”（可填科室名称或代码）")
    if len(found) > 1:
        raise CellError(f"有多个名为“{text}”的科室，请改填科室代码")
    return found[0]


register_lookup("department", department_by_name_or_code)

COLUMNS = [
    ImportColumn("employee_no", "工号", required=True, aliases=("员工号", "职工号"), max_length=32,
                 help="员工唯一编号，用于识别同一人员"),
    ImportColumn("name", "姓名", required=True, max_length=50),
    ImportColumn("department_id", "科室", kind="department", required=True, aliases=("所属科室", "科室代码"),
                 help="科室名称或代码"),
    ImportColumn("title", "职称", max_length=50),
    ImportColumn("position", "职务", max_length=50),
    ImportColumn("is_active", "在职", kind="bool", help="是 / 否，留空视为“是”"),
]
FIELDS = ("name", "department_id", "title", "position", "is_active")


def _find(keys: list[tuple]) -> dict[tuple, Staff]:
    numbers = [k[0] for k in keys]
    found = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        for staff in db.session.scalars(select(Staff).where(Staff.employee_no.in_(chunk))):
            found[(staff.employee_no,)] = staff
    return found


def _write(values: dict[str, Any], existing: Staff | None) -> bool:
    data = {"title": values.get("title") or "", "position": values.get("position") or "",
            "is_active": True if values.get("is_active") is None else values["is_active"]}
    if existing is None:
        staff = org.create_staff(employee_no=values["employee_no"], name=values["name"], title=data["title"],
                                 position=data["position"], department_id=values["department_id"])
        staff.is_active = data["is_active"]
        return True
    wanted = {"name": values["name"], "department_id": values["department_id"], **data}
    if all(getattr(existing, k) == v for k, v in wanted.items()):
        return False
    org.update_staff(existing, employee_no=existing.employee_no, **wanted)
    return True


STAFF_IMPORT = register(ImportType(code="staff", label="人员档案", columns=COLUMNS, key=("employee_no",),
                                   find_existing=_find, write_row=_write, max_rows=20_000,
                                   permission="staff.edit", personal_data=False,  # staff directory: no ID/phone numbers
                                   example=("A1001", "张三", "心血管内科", "主治医师", "住院医师", "是")))


def count_staff() -> int:
    return db.session.scalar(select(func.count()).select_from(Staff))
