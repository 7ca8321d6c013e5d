"""Factories: real rows through the real services (so audit and paths are as in production).

Each factory commits: under the `session` fixture a commit only releases a savepoint, and the
whole test is still rolled back; without it a request (which ends its session) would not see the rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import select

from portal.auth import org, services
from portal.auth.models import Department, Role, Staff, User
from portal.extensions import db

PASSWORD = "Portal#2026ok"
_seq = itertools.count(1)


def _next() -> int:
    return next(_seq)


def make_department(name: str, kind: str = "department", parent: Department | None = None,
                    code: str | None = None) -> Department:
    dept = org.create_department(name=name, code=code or f"T{_next():05d}", kind=kind,
                                 parent_id=parent.id if parent else None)
    db.session.commit()
    return dept


def make_staff(name: str, department: Department, employee_no: str | None = None, title: str = "",
               position: str = "") -> Staff:
    staff = org.create_staff(employee_no=employee_no or f"E{_next():06d}", name=name, title=title,
                             position=position, department_id=department.id)
    db.session.commit()
    return staff


def role(code: str) -> Role:
    found = db.session.scalar(select(Role).where(Role.code == code))
    assert found is not None, code
    return found


def make_user(login: str, roles: list[str] | tuple[str, ...] = (), department: Department | None = None,
              password: str = PASSWORD, must_change: bool = False, active: bool = True,
              name: str | None = None, wecom_userid: str | None = None) -> User:
    staff = make_staff(name or f"用户{login}", department) if department is not None else None
    user = services.create_user(login_name=login, password=password, staff_id=staff.id if staff else None,
                                wecom_userid=wecom_userid, role_ids=[role(c).id for c in roles])
    user.must_change_password = must_change
    user.is_active_flag = active
    db.session.commit()
    return user


@dataclass
class Tree:
    hospital: Department
    north: Department
    south: Department
    cardiology: Department
    cardiology_ward: Department
    surgery: Department
    orthopaedics: Department


def make_tree() -> Tree:
    """医院 > 北区 (心内科 > 心内病区, 普外科) ; 南区 (骨科)."""
    hospital = make_department("测试医院", "hospital")
    north = make_department("北区", "division", hospital)
    south = make_department("南区", "division", hospital)
    cardiology = make_department("心内科", "department", north)
    ward = make_department("心内病区", "ward", cardiology)
    surgery = make_department("普外科", "department", north)
    ortho = make_department("骨科", "department", south)
    return Tree(hospital, north, south, cardiology, ward, surgery, ortho)
