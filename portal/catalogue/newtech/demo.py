"""Demo data for new technologies and restricted-technology filings: a restricted technology with an open
filing (two of its four documents in), and a new technology in trial whose interim report is due soon.

Called from ``portal.catalogue.demo:build`` as ``build(demo)``; it needs the auth demo's departments and staff.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.approvals.models import Committee
from portal.auth.models import Staff
from portal.core import workdays
from portal.core.domains import Demo
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db

from ..filings import services as filings
from ..models import NewTechProject, Technology
from ..models.technologies import TechnologyRevision
from . import services as newtech

PDF = b"%PDF-1.4\n% demo\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def make_technology(code: str, name: str, category: str, grade: int, departments, **flags) -> Technology:
    """A catalogue entry with its first revision, written directly (the demo's and the tests' helper)."""
    tech = Technology(code=code, name=name, category=category, grade=grade, departments=list(departments), **flags)
    db.session.add(tech)
    db.session.flush()
    db.session.add(TechnologyRevision(technology_id=tech.id, revision=1, valid_from=utcnow(), reason="初始录入",
                                      data={"code": code, "name": name, "grade": grade, **flags}, source="form"))
    db.session.flush()
    return tech


def build(demo: Demo) -> None:
    today = local_today()
    cardio, surgery = demo.departments["XXGNK"], demo.departments["PTWK"]
    tavr = make_technology("DEMO-TAVR", "经导管主动脉瓣置换术", "interventional", 4, [cardio], restricted=True)
    make_technology("DEMO-DBS", "脑深部电刺激术", "surgery", 4, [surgery], restricted=True)
    lead = db.session.scalar(select(Staff).where(Staff.employee_no == "C0001"))
    first_case = today
    while workdays.working_days_between(first_case, today) < 9:
        first_case -= timedelta(days=1)
    filing = filings.open_filing(technology_id=tavr.id, first_case_date=first_case, patient_record_no="00231875",
                                 surgeon_staff_id=lead.id, department_id=cardio.id, today=today)
    for slot, name in (("self_assessment", "TAVR自我评估报告.pdf"), ("lead_credentials", "张伟医师执业证书.pdf")):
        filings.add_document(filing, slot, (name, PDF), demo.users["yiwu"])
    # The committees sign new technologies off: the department head sits on the technology committee.
    committees = {c.code: c for c in db.session.scalars(select(Committee))}
    if "tech" in committees and demo.users.get("zhangwei") not in committees["tech"].members:
        committees["tech"].members.append(demo.users["zhangwei"])
    if "ethics" in committees:
        committees["ethics"].members.append(demo.users["yiwu"])
    clinician = demo.users["liuyang"]
    project = NewTechProject(name="冠状动脉内冲击波球囊成形术", code="DEMO-IVL", category="interventional", grade=4,
                             department_id=cardio.id, lead_staff_id=clinician.staff_id, applicant_id=clinician.id,
                             description="以冲击波球囊处理重度钙化冠脉病变，提高支架膨胀率。",
                             risk_assessment="主要风险为冠脉夹层、穿孔；术者需完成厂家培训并在上级医师指导下开展。",
                             trial_months=12, status="applying")
    db.session.add(project)
    db.session.flush()
    newtech.start_trial(project, today=today - timedelta(days=170))
    db.session.flush()
