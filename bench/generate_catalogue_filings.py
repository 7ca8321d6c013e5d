"""Restricted-technology filings and new technologies for the benchmarks (small numbers, as a hospital has):
restricted entries with their filings over the years (the last few open), and new technologies, most closed,
a few in trial with their reports."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.auth.models import User
from portal.catalogue.models import NewTechProject, NewTechReport, RestrictedFiling, Technology, TechnologyRevision
from portal.catalogue.newtech.services import add_months, report_schedule
from portal.core import workdays

from .kit import Context

RESTRICTED, NEW = 30, 12


def generate(ctx: Context) -> dict:
    depts = ctx.ids["departments"]
    clinicians = ctx.ids["clinicians"]
    staff = dict(ctx.connection.execute(select(User.id, User.staff_id).where(User.id.in_(clinicians))).all())
    today, span = ctx.today, ctx.scale.days
    techs = [(f"BRX{n:03d}", f"限制类技术{n:03d}", "interventional", 4, True, False, "active")
             for n in range(RESTRICTED)]
    techs += [(f"BNT{n:03d}", f"新技术{n:03d}", "surgery", 3, False, n >= NEW - 3,
               "disabled" if n % 4 == 1 and n < NEW - 3 else "active") for n in range(NEW)]
    created = ctx.at(ctx.day(span), 9)
    tech_ids = ctx.bulk(Technology, ("code", "name", "category", "grade", "restricted", "new_tech", "status",
                                     "created_at", "updated_at"), [(*t, created, created) for t in techs])
    # Each entry's first revision, as the catalogue keeps one for every state an entry has had.
    flags = {"perf_grade4": False, "minimally_invasive": False, "day_surgery": False}
    ctx.bulk(TechnologyRevision, ("technology_id", "revision", "valid_from", "data", "reason", "source", "created_at",
                                  "updated_at"),
             [(tid, 1, created, {"code": code, "national_code": "", "insurance_code": "", "name": name,
                                 "category": category, "grade": grade, **flags, "restricted": restricted,
                                 "new_tech": new_tech, "prerequisites": [], "departments": [], "status": status,
                                 "note": ""}, "初始手术字典", "import", created, created)
              for tid, (code, name, category, grade, restricted, new_tech, status) in zip(tech_ids, techs,
                                                                                          strict=True)])
    filings = []
    for n, tech_id in enumerate(tech_ids[:RESTRICTED]):
        first = today - timedelta(days=span - n * span // RESTRICTED) if n < RESTRICTED - 4 else \
            today - timedelta(days=3 + 4 * (RESTRICTED - n))
        deadline = workdays.add_working_days(first, 15)
        open_ = n >= RESTRICTED - 4
        clinician = clinicians[n % len(clinicians)]
        filings.append((tech_id, depts[n % len(depts)], staff[clinician], first, f"{8_000_000 + n:08d}", deadline,
                        "open" if open_ else "filed", "" if open_ else f"备{first.year}-{n:03d}",
                        None if open_ else deadline - timedelta(days=2), ctx.at(first, 16), ctx.at(first, 16)))
    filing_ids = ctx.bulk(RestrictedFiling, ("technology_id", "department_id", "surgeon_staff_id", "first_case_date",
                                             "patient_record_no", "deadline", "status", "filing_no", "filed_on",
                                             "created_at", "updated_at"), filings)
    projects, schedules = [], []
    for n, tech_id in enumerate(tech_ids[RESTRICTED:]):
        in_trial = n >= NEW - 3
        start = today - timedelta(days=100 + 60 * (NEW - n)) if in_trial else \
            today - timedelta(days=span - n * span // (2 * NEW))
        clinician = clinicians[(n * 7) % len(clinicians)]
        state = "trial" if in_trial else ("terminated" if n % 4 == 1 else "routine")
        projects.append((f"新技术{n:03d}", f"BNT{n:03d}", "surgery", 3, depts[n % len(depts)], staff[clinician],
                         clinician, "技术说明", "风险评估", 12, state, tech_id, start, add_months(start, 12),
                         "" if in_trial else "试用期满，医务科审核结论", ctx.at(start, 9), ctx.at(start, 9)))
        schedules.append((start, in_trial))
    project_ids = ctx.bulk(NewTechProject, ("name", "code", "category", "grade", "department_id", "lead_staff_id",
                                            "applicant_id", "description", "risk_assessment", "trial_months",
                                            "status", "technology_id", "trial_start", "trial_end",
                                            "decision_reason", "created_at", "updated_at"), projects)
    reports = []
    for pid, (start, in_trial) in zip(project_ids, schedules, strict=True):
        for kind, sequence, due in report_schedule(start, 12):
            done = not in_trial or due < today - timedelta(days=20)
            reports.append((pid, kind, sequence, due, "accepted" if done else "due",
                            "按期提交的进展报告" if done else "", ctx.at(start, 9), ctx.at(start, 9)))
    ctx.bulk(NewTechReport, ("project_id", "kind", "sequence", "due_date", "status", "content", "created_at",
                             "updated_at"), reports)
    return {"technologies": len(tech_ids), "catalogue_filings": len(filing_ids),
            "catalogue_newtech_projects": len(project_ids), "catalogue_newtech_reports": len(reports)}
