"""Data generator: a hospital of a realistic size for the benchmarks."""

from __future__ import annotations

from portal.auth import org, services
from portal.auth.seed import ensure_reference_data
from portal.extensions import db


def generate(departments: int = 60, staff_per_department: int = 40, users_every: int = 4) -> dict:
    """Departments under two divisions, staff in each, a login for every fourth member of staff."""
    roles = ensure_reference_data()
    hospital = org.create_department(name="基准医院", code="BH", kind="hospital", parent_id=None)
    divisions = [org.create_department(name=f"院区{i}", code=f"BD{i}", kind="division", parent_id=hospital.id)
                 for i in range(2)]
    count = 0
    for d in range(departments):
        dept = org.create_department(name=f"科室{d:03d}", code=f"BK{d:03d}", kind="department",
                                     parent_id=divisions[d % 2].id)
        for s in range(staff_per_department):
            staff = org.create_staff(employee_no=f"B{d:03d}{s:03d}", name=f"员工{d:03d}{s:03d}", title="主治医师",
                                     position="", department_id=dept.id)
            if s % users_every == 0:
                services.create_user(login_name=f"u{d:03d}{s:03d}", password="Bench#2026ok", staff_id=staff.id,
                                     wecom_userid=None, role_ids=[roles["clinician"].id])
            count += 1
        db.session.commit()
    return {"departments": departments, "staff": count}
