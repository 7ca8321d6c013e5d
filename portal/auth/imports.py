"""The staff register from HR as an Excel import (the first user of the import framework).

Departments are loaded once per file; new staff are inserted and corrections applied in bulk, and
the import is audited by one summary record listing the employee numbers it created or changed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from portal.core.actor import current_actor
from portal.core.timeutil import utcnow
from portal.extensions import db
from portal.io.bulk import insert_rows, update_rows
from portal.io.columns import CellError, ImportColumn, parse_text
from portal.io.imports import ImportType, register, register_table_lookup

from .models import Department, Staff, User


def active_departments() -> dict[str, list[int]]:
    """Every active department by its code and by its name (one query)."""
    table: dict[str, list[int]] = {}
    for dept_id, code, name in db.session.execute(select(Department.id, Department.code, Department.name)
                                                  .where(Department.is_active)):
        for word in {code, name}:
            if word:
                table.setdefault(word, []).append(dept_id)
    return table


def department_by_name_or_code(value: Any, table: dict[str, list[int]]) -> int:
    text = parse_text(value, 100)
    found = table.get(text, [])
    if not found:
        raise CellError(f"找不到科室“{text}”（可填科室名称或代码）")
    if len(found) > 1:
        raise CellError(f"有多个名为“{text}”的科室，请改填科室代码")
    return found[0]


register_table_lookup("department", active_departments, department_by_name_or_code)

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


EXISTING = (Staff.id, Staff.employee_no, Staff.name, Staff.department_id, Staff.title, Staff.position,
            Staff.is_active)


def _find(keys: list[tuple]) -> dict[tuple, Any]:
    """Existing staff by employee number, whatever its case (the file's numbers are upper case).

    Plain rows, not ORM objects. A big file reads the register in one pass (a hospital's staff fit in
    memory; hundreds of IN lists cost more); a small one asks for its numbers only.
    """
    numbers = sorted({k[0] for k in keys})
    if len(numbers) > 1000:
        wanted = set(numbers)
        found = {}
        for row in db.session.execute(select(*EXISTING)):
            key = row.employee_no if row.employee_no in wanted else row.employee_no.upper()
            if key in wanted and (key == row.employee_no or (key,) not in found):
                found[(key,)] = row
        return found
    found = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        exact = {row.employee_no: row for row in db.session.execute(select(*EXISTING)
                                                                    .where(Staff.employee_no.in_(chunk)))}
        for number, row in exact.items():
            found[(number,)] = row
        missing = [n for n in chunk if n not in exact]
        if missing:  # stored in another case before numbers were normalised
            for row in db.session.execute(select(*EXISTING).where(func.upper(Staff.employee_no).in_(missing))):
                found.setdefault((row.employee_no.upper(),), row)
    return found


def _wanted(values: dict[str, Any]) -> dict[str, Any]:
    return {"name": values["name"], "department_id": values["department_id"], "title": values.get("title") or "",
            "position": values.get("position") or "",
            "is_active": True if values.get("is_active") is None else values["is_active"]}


def _write_many(new: list[dict[str, Any]], corrections: list[tuple[dict[str, Any], Any]]) -> list[tuple]:
    """Insert the new staff and correct the changed ones, each in one statement; the changed keys."""
    now, author = utcnow(), current_actor().user_id
    if new:
        insert_rows(Staff.__table__, [{"employee_no": v["employee_no"], **_wanted(v), "created_at": now,
                                       "updated_at": now, "created_by_id": author} for v in new])
    changes: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # by the columns that changed
    moved, keys = [], []
    for values, staff in corrections:
        wanted = _wanted(values)
        changed = tuple(k for k, v in wanted.items() if getattr(staff, k) != v)
        if not changed:
            continue
        if "department_id" in changed:
            moved.append(staff.id)
        changes.setdefault(changed, []).append({"id": staff.id, **{k: wanted[k] for k in changed},
                                                "updated_at": now})
        keys.append((values["employee_no"],))
    for rows in changes.values():
        # One statement per set of changed columns: only those columns are set, so indexes of unchanged ones
        # are left alone.
        update_rows(Staff.__table__, rows)
    if moved:  # a linked account's visible departments follow its staff record
        db.session.execute(update(User).where(User.staff_id.in_(moved))
                           .values(access_version=User.access_version + 1))
    return keys


# The staff directory holds no ID or phone numbers: its originals are not personal data.
STAFF_IMPORT = register(ImportType(code="staff", label="人员档案", columns=COLUMNS, key=("employee_no",),
                                   codes=("employee_no",), find_existing=_find, write_many=_write_many,
                                   max_rows=20_000, permission="staff.edit", personal_data=False,
                                   example=("A1001", "张三", "心血管内科", "主治医师", "住院医师", "是")))


def count_staff() -> int:
    return db.session.scalar(select(func.count()).select_from(Staff))
