"""Demo qualifications: the standard types (seeded), certificates for the demo doctors, some expiring within
30 days, some expired, and one application waiting for the department head."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from portal.auth.models import Staff
from portal.core.domains import Demo
from portal.core.timeutil import local_today
from portal.extensions import db

from .models.qualifications import QualificationType
from .qualifications import services

# employee no -> [(type code, level, valid_to offset in days from today or None, number)]
HOLDINGS = {
    "C0001": [("PRACTICE_LICENSE", "", 1400, "110450100000101"), ("PHYSICIAN_CERT", "", None, "199845110000101"),
              ("TITLE", "正高级", None, "GX-ZG-2015-0101"), ("ANTIBIOTIC", "特殊使用级", 600, ""),
              ("CONSULTATION", "", 300, ""), ("SURGERY_GRADE", "四级手术", 500, "")],
    "C0002": [("PRACTICE_LICENSE", "", 900, "110450100000102"), ("PHYSICIAN_CERT", "", None, "200645110000102"),
              ("TITLE", "副高级", None, "GX-FG-2019-0102"), ("ANTIBIOTIC", "限制使用级", 20, ""),
              ("RADIATION", "", 25, "桂放 2022-0102")],
    "S0001": [("PRACTICE_LICENSE", "", 1100, "110450100000201"), ("TITLE", "正高级", None, "GX-ZG-2012-0201"),
              ("ANTIBIOTIC", "特殊使用级", 400, ""), ("NARCOTIC", "", 220, "MZ-2024-0201")],
    "S0002": [("PRACTICE_LICENSE", "", 12, "110450100000202"), ("TITLE", "中级", None, "GX-ZJ-2020-0202"),
              ("ANTIBIOTIC", "非限制使用级", -15, "")],
    "G0001": [("PRACTICE_LICENSE", "", 800, "110450100000301"), ("NARCOTIC", "", -40, "MZ-2022-0301"),
              ("RADIATION", "", 5, "桂放 2021-0301")],
    "T0001": [("PRACTICE_LICENSE", "", 700, "110450100000401"), ("CONSULTATION", "", -3, "")],
}


def build(demo: Demo) -> None:
    today = local_today()
    types = {t.code: t for t in db.session.scalars(select(QualificationType))}
    staff = {s.employee_no: s for s in db.session.scalars(select(Staff).where(Staff.employee_no.in_(HOLDINGS)))}
    for number, holdings in HOLDINGS.items():
        person = staff.get(number)
        if person is None:
            continue
        for code, level, days, cert in holdings:
            valid_to = today + timedelta(days=days) if days is not None else None
            valid_from = date(valid_to.year - 5, valid_to.month, 1) if valid_to else date(2015, 7, 1)
            services.register_qualification(person, {
                "type_id": types[code].id, "level": level, "number": cert, "issuer": "广西壮族自治区卫生健康委员会",
                "issued_on": min(valid_from, today), "valid_from": min(valid_from, today), "valid_to": valid_to,
                "scope": "内科专业" if code == "PRACTICE_LICENSE" else ""})
    clinician = demo.users.get("liuyang")
    if clinician is not None:
        services.apply_qualification(clinician, {
            "type_id": types["CONSULTATION"].id, "level": "", "number": "", "issuer": "示范医院医务科",
            "issued_on": None, "valid_from": today, "valid_to": today + timedelta(days=3 * 365),
            "scope": "院内心血管内科会诊", "comment": "已满主治医师五年，申请院内会诊权。"})
    db.session.flush()
    from .privileges.demo import build as build_privileges

    build_privileges(demo)
