"""The demo hospital: the department tree, staff, and one account per main role."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.core.domains import Demo
from portal.extensions import db

from . import org, services
from .models import User
from .passwords import generate_password
from .seed import ensure_reference_data

TREE = [
    # (code, name, kind, parent code)
    ("H", "示范医院", "hospital", None),
    ("D1", "本部", "division", "H"),
    ("D2", "东院区", "division", "H"),
    ("YWK", "医务科", "department", "D1"),
    ("XXGNK", "心血管内科", "department", "D1"),
    ("XXGNK-1", "心内一病区", "ward", "XXGNK"),
    ("XXGNK-2", "心内二病区", "ward", "XXGNK"),
    ("PTWK", "普通外科", "department", "D1"),
    ("PTWK-1", "普外一病区", "ward", "PTWK"),
    ("GK", "骨科", "department", "D2"),
    ("GK-1", "骨科病区", "ward", "GK"),
    ("ZLK", "肿瘤科", "department", "D2"),
    ("QCGL", "全程管理中心", "department", "D1"),
    ("XXK", "信息科", "department", "D1"),
]

STAFF = [
    # employee no, name, title, position, department code, login, role codes
    ("A0001", "王建国", "高级工程师", "信息科科长", "XXK", "admin", ["sysadmin"]),
    ("A0002", "赵敏", "", "审计专员", "XXK", "auditor", ["auditor"]),
    ("M0001", "李秀英", "主任医师", "医务科科长", "YWK", "yiwu", ["ma_admin"]),
    ("M0002", "陈晓燕", "主治医师", "医务科干事", "YWK", "yiwu2", ["ma_staff"]),
    ("C0001", "张伟", "主任医师", "科主任", "XXGNK", "zhangwei", ["dept_head", "committee"]),
    ("C0002", "刘洋", "副主任医师", "", "XXGNK", "liuyang", ["clinician"]),
    ("C0003", "孙丽", "主管护师", "质控员", "XXGNK", "sunli", ["dept_secretary"]),
    ("S0001", "周强", "主任医师", "科主任", "PTWK", "zhouqiang", ["dept_head"]),
    ("S0002", "吴磊", "主治医师", "", "PTWK", None, []),
    ("G0001", "郑海", "主任医师", "科主任", "GK", "zhenghai", ["dept_head"]),
    ("T0001", "冯静", "副主任医师", "科主任", "ZLK", None, []),
    ("Q0001", "何芳", "主管护师", "个案管理组长", "QCGL", "hefang", ["cm_supervisor"]),
    ("Q0002", "马婷", "护师", "个案管理师", "QCGL", "mating", ["case_manager"]),
    ("Q0003", "高雪", "护师", "个案管理师", "QCGL", "gaoxue", ["case_manager"]),
    ("Q0004", "林峰", "", "计划员", "QCGL", "linfeng", ["plan_issuer"]),
]


def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(User))
NON_CLINICAL = {"YWK", "XXK"}  # medical affairs and IT offices: not in the clinical programmes (study records)


def build(demo: Demo) -> None:
    """Reference data, departments, staff and accounts; demo accounts need no first-login change."""
    roles = ensure_reference_data()
    for order, (code, name, kind, parent) in enumerate(TREE):
        parent_id = demo.departments[parent].id if parent else None
        demo.departments[code] = org.create_department(name=name, code=code, kind=kind, parent_id=parent_id,
                                                       sort_order=order, clinical=code not in NON_CLINICAL)
    for employee_no, name, title, position, dept, login, role_codes in STAFF:
        staff = org.create_staff(employee_no=employee_no, name=name, title=title, position=position,
                                 department_id=demo.departments[dept].id)
        if login:
            secret = demo.password or generate_password()
            user = services.create_user(login_name=login, password=secret, staff_id=staff.id,
                                        wecom_userid=login, role_ids=[roles[c].id for c in role_codes])
            user.must_change_password = False
            demo.logins[login] = secret
            demo.users[login] = user
    db.session.flush()
