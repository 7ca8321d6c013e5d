"""Catalogue entries, qualifications and privileges for the privilege tests (catalogue rows written directly:
the catalogue's own services live elsewhere)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from portal.catalogue.models.technologies import Technology, TechnologyDepartment
from portal.core.timeutil import local_today
from portal.credentials.models import QualificationType
from portal.credentials.privileges import services
from portal.credentials.qualifications import services as qualification_services
from portal.extensions import db


def make_tech(code: str, grade: int = 3, category: str = "surgery", *, national: str = "", restricted: bool = False,
              new: bool = False, departments=(), prerequisites=(), status: str = "active") -> Technology:
    tech = Technology(code=code, national_code=national, insurance_code="", name=f"手术{code}", category=category,
                      grade=grade, restricted=restricted, new_tech=new, prerequisites=list(prerequisites),
                      status=status)
    db.session.add(tech)
    db.session.flush()
    for dept in departments:
        db.session.add(TechnologyDepartment(technology_id=tech.id, department_id=dept.id))
    db.session.commit()
    return tech


def grant(staff, *, tech: str = "", grade: int | None = None, categories=("surgery",), order: bool = True,
          perform: bool = True, start: date | None = None, end: date | None = None):
    today = local_today()
    record = services.grant_privilege(staff, {
        "kind": "technology" if tech else "grade", "technology": tech, "grade": grade, "categories": list(categories),
        "can_order": order, "can_perform": perform, "valid_from": start or today - timedelta(days=100),
        "valid_to": end or today + timedelta(days=400), "reason": "测试"})
    db.session.commit()
    return record


def give_qualification(staff, code: str, *, level: str = "", start: date | None = None, end: date | None = None):
    kind = db.session.scalar(select(QualificationType).where(QualificationType.code == code))
    today = local_today()
    record = qualification_services.register_qualification(staff, {
        "type_id": kind.id, "level": level, "number": "", "issuer": "",
        "issued_on": start or today - timedelta(days=900), "valid_from": start or today - timedelta(days=900),
        "valid_to": end if end is not None else (today + timedelta(days=400) if kind.expires else None),
        "scope": "", "note": ""})
    db.session.commit()
    return record
