"""Demo privileges: grade and technology privileges for the demo doctors, some ending within 90 days, one
suspended, one application waiting for the department head, an admission rule, an interception alert and an
emergency override waiting for confirmation.

The catalogue's own demo data may not exist yet when this runs: if the ``technologies`` table is empty, a
handful of demo operations is written here (directly, as the catalogue's tables are plain rows)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal.auth.models import Staff
from portal.catalogue.models.technologies import Technology, TechnologyDepartment
from portal.core.domains import Demo
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db

from . import check, services

# code, national code, name, category, grade, restricted, new, departments, prerequisites
TECHNOLOGIES = [
    ("XN0001", "37.2200", "左心导管检查", "interventional", 3, False, False, ("XXGNK",), ()),
    ("XN0002", "36.0600", "经皮冠状动脉支架置入术", "interventional", 4, False, False, ("XXGNK",), ()),
    ("XN0003", "37.3400", "心脏射频消融术", "interventional", 4, False, False, ("XXGNK",), ()),
    ("XN0004", "35.9601", "经导管主动脉瓣置换术（TAVR）", "interventional", 4, True, False, ("XXGNK",), ("RADIATION",)),
    ("XN0005", "37.8300", "永久起搏器置入术", "interventional", 3, False, False, ("XXGNK",), ()),
    ("PW0001", "47.0101", "腹腔镜阑尾切除术", "surgery", 2, False, False, ("PTWK",), ()),
    ("PW0002", "51.2301", "腹腔镜胆囊切除术", "surgery", 3, False, False, ("PTWK",), ()),
    ("PW0003", "45.7301", "腹腔镜右半结肠切除术", "surgery", 4, False, False, ("PTWK",), ()),
    ("PW0004", "53.0001", "腹股沟疝修补术", "surgery", 2, False, False, ("PTWK",), ()),
    ("PW0005", "50.5900", "肝移植术", "surgery", 4, True, False, ("PTWK",), ()),
    ("GK0001", "81.5401", "全膝关节置换术", "surgery", 4, False, False, ("GK",), ()),
    ("GK0002", "79.3501", "股骨骨折切开复位内固定术", "surgery", 3, False, False, ("GK",), ()),
    ("GK0003", "81.0801", "机器人辅助腰椎融合术", "surgery", 4, False, True, ("GK",), ()),
]


def _technologies(demo: Demo) -> dict[str, Technology]:
    if not db.session.scalar(select(func.count()).select_from(Technology)):
        for code, national, name, category, grade, restricted, new, depts, prereq in TECHNOLOGIES:
            tech = Technology(code=code, national_code=national, insurance_code="", name=name, category=category,
                              grade=grade, perf_grade4=grade == 4, restricted=restricted, new_tech=new,
                              prerequisites=list(prereq), status="active")
            db.session.add(tech)
            db.session.flush()
            for dept in depts:
                if dept in demo.departments:
                    db.session.add(TechnologyDepartment(technology_id=tech.id,
                                                        department_id=demo.departments[dept].id))
        db.session.flush()
    return {t.code: t for t in db.session.scalars(select(Technology))}


def build(demo: Demo) -> None:
    today = local_today()
    techs = _technologies(demo)
    staff = {s.employee_no: s for s in db.session.scalars(select(Staff))}
    services.save_rule(None, {"grade": 4, "category": "", "min_title": "副高级", "min_years": 3, "trainings": "",
                              "certificates": "", "combine": "and", "is_active": True,
                              "note": "四级手术：副主任医师及以上，任现职 3 年以上"})

    def grant(no, days, *, tech=None, grade=None, cats=("surgery",), order=True, perform=True, start=-700):
        person = staff.get(no)
        if person is None or (tech and tech not in techs):
            return None
        values = {"kind": "technology" if tech else "grade", "technology": tech or "", "grade": grade,
                  "categories": list(cats), "can_order": order, "can_perform": perform,
                  "valid_from": today + timedelta(days=start), "valid_to": today + timedelta(days=days),
                  "reason": "医务科依据原纸质授权登记"}
        return services.grant_privilege(person, values)

    grant("C0001", 900, grade=4, cats=("interventional",))
    grant("C0001", 400, tech="XN0004")
    grant("C0002", 60, grade=3, cats=("interventional",))
    grant("C0002", 25, tech="XN0002", perform=False)
    grant("S0001", 1000, grade=4, cats=("surgery", "endoscopy"))
    grant("S0001", 80, tech="PW0005")
    grant("S0002", 12, grade=2, cats=("surgery",))
    grant("G0001", 700, grade=3, cats=("surgery",))
    suspended = grant("G0001", 500, tech="GK0003")
    if suspended is not None:  # decided on paper before the portal: the suspension record, already in force
        scope = services.Scope(suspended.kind, suspended.grade, (), suspended.technology, True, True, today,
                               suspended.valid_to)
        new = services._new_record(suspended.staff, scope, action="suspend", source="manual", supersedes=suspended,
                                   reason="术后并发症待质控评估，暂停至评估结束")
        services._activate(new)
    clinician = demo.users.get("liuyang")
    if clinician is not None and clinician.staff is not None and "XN0005" in techs:
        services.apply_privilege(clinician, clinician.staff, {
            "kind": "technology", "technology": "XN0005", "grade": None, "categories": [], "can_order": True,
            "can_perform": True, "valid_from": today, "valid_to": today + timedelta(days=3 * 365),
            "reason": "近两年在上级医师指导下完成永久起搏器置入 40 例，申请独立执行权。"})
    if "S0002" in staff and "PW0003" in techs:
        decision = check.check("S0002", "PW0003", "perform", today)
        if not decision.allowed:
            services.record_denial(decision, "PW0003", "perform", today)
    if "S0002" in staff and "PW0002" in techs:
        services.record_override(staff_no="S0002", code="PW0002", performed_at=utcnow() - timedelta(hours=5),
                                 patient="ZY2026112301", reason="夜间急诊胆囊穿孔，上级医师在外院会诊，病情危急。",
                                 external_id="DEMO-1")
    db.session.flush()
