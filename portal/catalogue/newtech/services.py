"""New technologies: the application and its approval, the trial with its reports, and the closing decision.

The application is the engine's "newtech" process (department head -> medical affairs -> technology committee
-> ethics committee); a progress report is the "newtech_report" process (medical affairs review). Both
subjects are registered here.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from sqlalchemy import false, or_, select
from sqlalchemy.orm import selectinload

from portal.approvals import services as approvals
from portal.approvals import subjects
from portal.approvals.models import ApprovalInstance
from portal.approvals.subjects import Summary
from portal.auth.models import Department, Staff, User
from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit, workdays
from portal.core.actor import current_actor
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import format_date, local_today, utcnow
from portal.extensions import db
from portal.notify.services import notify

from .. import VIEW
from ..models import CATEGORIES, GRADES, CatalogueReminder, NewTechProject, NewTechReport, Technology
from ..models.newtech import (
    DECISIONS,
    MAX_TRIAL_MONTHS,
    MIN_TRIAL_MONTHS,
    REPORT_REMINDER_DAYS,
)
from ..models.technologies import TechnologyRevision

FIELDS = ("name", "code", "category", "grade", "department_id", "lead_staff_id", "description", "risk_assessment",
          "trial_months", "status", "technology_id", "trial_start", "trial_end", "decision_reason")
CODE = re.compile(r"^[0-9A-Za-z.\-_]{1,40}$")
MEDICAL_AFFAIRS = ("ma_admin", "ma_staff")
ENTRY_FIELDS = ("code", "national_code", "insurance_code", "name", "category", "grade", "perf_grade4",
                "minimally_invasive", "day_surgery", "restricted", "new_tech", "prerequisites", "status", "note")


# --- dates ---------------------------------------------------------------------------------------------------

def add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def report_schedule(start: date, months: int) -> list[tuple[str, int, date]]:
    """(kind, sequence, due date): an interim report at half the period, an annual report at each full year
    before the end (unless it falls on the interim date), and the final report at the end."""
    end = add_months(start, months)
    interim = start + timedelta(days=(end - start).days // 2)
    items = [("interim", 1, interim)]
    for year in range(1, months // 12 + 1):
        due = add_months(start, 12 * year)
        if due < end and due != interim:
            items.append(("annual", year, due))
    items.append(("final", 1, end))
    return sorted(items, key=lambda item: item[2])


# --- scope ----------------------------------------------------------------------------------------------------

def is_own(project: NewTechProject, user: User) -> bool:
    """The applicant and the technology lead act on their own project (application, reports)."""
    return project.applicant_id == user.id or (user.staff_id is not None and project.lead_staff_id == user.staff_id)


def can_view(project: NewTechProject, user: User) -> bool:
    return is_own(project, user) or user.principal.can_act_on(VIEW, project.department_id)


def list_query(user: User, status: str = "", due: str = "", today: date | None = None):
    """Projects the user may see (their own, and those of departments they may view), filtered."""
    today = today or local_today()
    stmt = select(NewTechProject).options(selectinload(NewTechProject.reports))
    reach = user.principal.departments_for(VIEW)
    if reach is not None:
        own = or_(NewTechProject.applicant_id == user.id, NewTechProject.lead_staff_id == (user.staff_id or -1))
        stmt = stmt.where(or_(own, NewTechProject.department_id.in_(reach) if reach else false()))
    if status:
        stmt = stmt.where(NewTechProject.status == status)
    if due in ("due", "overdue"):
        open_reports = select(NewTechReport.project_id).where(NewTechReport.status.in_(("due", "returned")))
        if due == "overdue":
            open_reports = open_reports.where(NewTechReport.due_date < today)
        else:
            open_reports = open_reports.where(NewTechReport.due_date <= today + timedelta(days=30))
        stmt = stmt.where(NewTechProject.status == "trial", NewTechProject.id.in_(open_reports))
    return stmt.order_by(NewTechProject.status != "trial", NewTechProject.trial_end, NewTechProject.id.desc())


def due_reports_query(user: User, today: date | None = None, within_days: int = 30):
    """Open reports of projects in trial that the user sees, due within `within_days` or overdue."""
    today = today or local_today()
    projects = list_query(user).with_only_columns(NewTechProject.id).order_by(None)
    return (select(NewTechReport).join(NewTechReport.project)
            .where(NewTechReport.project_id.in_(projects), NewTechProject.status == "trial",
                   NewTechReport.status.in_(("due", "returned")),
                   NewTechReport.due_date <= today + timedelta(days=within_days))
            .order_by(NewTechReport.due_date, NewTechReport.id))


# --- the application -----------------------------------------------------------------------------------------

def _check_application(*, name, code, category, grade, department_id, lead_employee_no, description,
                       risk_assessment, trial_months, within, project_id: int | None = None) -> dict:
    values = {"name": clean(name), "code": clean(code).upper(), "description": clean(description),
              "risk_assessment": clean(risk_assessment)}
    if not values["name"] or len(values["name"]) > 200:
        raise ServiceError("请填写技术名称（不超过 200 个字）。", field="name")
    if not CODE.fullmatch(values["code"]):
        raise ServiceError("编码应为 1–40 位字母、数字、点或横线（如 XJS-2026-01 或手术的院内编码）。", field="code")
    if category not in CATEGORIES:
        raise ServiceError("请选择技术类别。", field="category")
    if grade not in GRADES:
        raise ServiceError("请选择手术（操作）等级。", field="grade")
    dept = db.session.get(Department, department_id) if department_id else None
    if dept is None or not dept.is_active or dept.kind not in ("department", "ward"):
        raise ServiceError("请选择一个在用的科室或病区。", field="department_id")
    if within is not None and dept.id not in within:
        raise ServiceError("只能为您所在的科室申请新技术。", field="department_id", status=403)
    lead = db.session.scalar(select(Staff).where(Staff.employee_no == clean(lead_employee_no)))
    if lead is None or not lead.is_active:
        raise ServiceError("找不到该工号的在职人员，请核对技术负责人工号。", field="lead_employee_no")
    for key, label in (("description", "技术说明"), ("risk_assessment", "风险评估")):
        if not values[key]:
            raise ServiceError(f"请填写{label}。", field=key)
        if len(values[key]) > 5000:
            raise ServiceError(f"{label}不能超过 5000 字。", field=key)
    if trial_months is None or not MIN_TRIAL_MONTHS <= trial_months <= MAX_TRIAL_MONTHS:
        raise ServiceError(f"试用期应为 {MIN_TRIAL_MONTHS}–{MAX_TRIAL_MONTHS} 个月。", field="trial_months")
    busy = db.session.scalar(select(NewTechProject).where(
        NewTechProject.code == values["code"], NewTechProject.status.in_(("applying", "returned", "trial")),
        NewTechProject.id != (project_id or 0)))
    if busy is not None:
        raise ServiceError(f"编码 {values['code']} 已有进行中的新技术项目“{busy.name}”（{busy.status_label}）。",
                           field="code", status=409)
    existing = db.session.scalar(select(Technology).where(Technology.code == values["code"]))
    if existing is not None and existing.status != "active":
        raise ServiceError(f"目录中编码 {values['code']} 的条目已停用，请联系医务科。", field="code")
    return {**values, "category": category, "grade": grade, "department_id": dept.id, "lead_staff_id": lead.id,
            "trial_months": trial_months}


@atomic()
def apply(user: User, *, files=(), within=None, **fields) -> NewTechProject:
    """A clinician applies for a new technology; it goes to the department head first."""
    values = _check_application(within=within, **fields)
    project = NewTechProject(applicant_id=user.id, status="applying", **values)
    db.session.add(project)
    db.session.flush()
    instance = approvals.submit("newtech", entity_type="catalogue_newtech", entity_id=project.id,
                                title=f"新技术新项目：{project.name}", applicant=user,
                                department_id=project.department_id, comment=project.description[:2000], files=files)
    project.approval_id = instance.id
    audit.record("create", "catalogue_newtech", project.id, label=project.name,
                 after=audit.snapshot(project, FIELDS))
    return project


@atomic()
def resubmit(project: NewTechProject, user: User, *, files=(), within=None, **fields) -> NewTechProject:
    """The applicant corrects a returned application and sends it back to the first step."""
    if project.status != "returned":
        raise ServiceError(f"该申请{project.status_label}，不能修改后重新提交。", status=409)
    values = _check_application(within=within, project_id=project.id, **fields)
    before = audit.snapshot(project, FIELDS)
    for key, value in values.items():
        setattr(project, key, value)
    project.status = "applying"
    approvals.resubmit(project.approval_id, user, "已按意见修改：" + project.description[:1900], files)
    audit.record("update", "catalogue_newtech", project.id, label=project.name, before=before,
                 after=audit.snapshot(project, FIELDS))
    return project


def _entry_state(tech: Technology) -> dict:
    return {**audit.snapshot(tech, ENTRY_FIELDS), "departments": [d.code for d in tech.departments]}


def _revise(tech: Technology, reason: str, user_id: int | None) -> None:
    db.session.flush()
    user_id = user_id or current_actor().user_id
    db.session.add(TechnologyRevision(technology_id=tech.id, revision=tech.revision, valid_from=utcnow(),
                                      data=_entry_state(tech), reason=reason[:500], changed_by_id=user_id,
                                      source="newtech"))
    db.session.flush()


def _link_technology(project: NewTechProject, user_id: int | None) -> Technology:
    """The catalogue entry of an approved project: the existing one with its code, or a new one."""
    tech = db.session.scalar(select(Technology).where(Technology.code == project.code))
    dept = db.session.get(Department, project.department_id)
    reason = f"新技术新项目“{project.name}”获批，进入试用期"
    if tech is None:
        tech = Technology(code=project.code, name=project.name, category=project.category, grade=project.grade,
                          new_tech=True, status="active", revision=1, departments=[dept])
        db.session.add(tech)
        action, before = "create", None
    else:
        before = _entry_state(tech)
        tech.new_tech = True
        if dept not in tech.departments:
            tech.departments.append(dept)
        tech.revision += 1
        action = "update"
    _revise(tech, reason, user_id)
    audit.record(action, "technology", tech.id, label=tech.name, before=before, after=_entry_state(tech))
    return tech


def start_trial(project: NewTechProject, today: date | None = None, user_id: int | None = None) -> None:
    """Approved: the entry is created or marked new, the trial starts today with its reports scheduled."""
    today = today or local_today()
    before = audit.snapshot(project, FIELDS)
    tech = _link_technology(project, user_id)
    project.technology_id = tech.id
    project.status = "trial"
    project.trial_start = today
    project.trial_end = add_months(today, project.trial_months)
    for kind, sequence, due in report_schedule(today, project.trial_months):
        db.session.add(NewTechReport(project_id=project.id, kind=kind, sequence=sequence, due_date=due))
    db.session.flush()
    audit.record("update", "catalogue_newtech", project.id, label=project.name, before=before,
                 after=audit.snapshot(project, FIELDS))
    people = [project.applicant_id, project.lead.user.id if project.lead.user else None]
    notify(people, "catalogue", f"新技术获批进入试用期：{project.name}",
           f"试用期 {format_date(project.trial_start)} 至 {format_date(project.trial_end)}，请按期提交进展报告。",
           f"/catalogue/newtech/{project.id}")


# --- reports ---------------------------------------------------------------------------------------------------

@atomic()
def submit_report(report: NewTechReport, user: User, content: str | None, files=()) -> NewTechReport:
    """The lead submits a progress report (text and attachments) for medical affairs to review."""
    project = report.project
    if not is_own(project, user):
        raise ServiceError("只有技术负责人或申请人可以提交进展报告。", status=403)
    if project.status != "trial":
        raise ServiceError(f"该项目{project.status_label}，不再提交进展报告。", status=409)
    if not report.open:
        raise ServiceError(f"该报告{report.status_label}，不能再提交。", status=409)
    text = clean(content)
    if not text:
        raise ServiceError("请填写报告内容。", field="content")
    if len(text) > 10000:
        raise ServiceError("报告内容不能超过 10000 字。", field="content")
    before = audit.snapshot(report, ("status", "content"))
    report.content, report.status, report.submitted_at = text, "submitted", utcnow()
    instance = db.session.get(ApprovalInstance, report.approval_id) if report.approval_id else None
    if instance is not None and instance.status == "returned":
        approvals.resubmit(instance.id, user, text[:2000], files)
    else:
        instance = approvals.submit("newtech_report", entity_type="catalogue_newtech_report", entity_id=report.id,
                                    title=f"{project.name}：{report.title}", applicant=user,
                                    department_id=project.department_id, comment=text[:2000], files=files)
        report.approval_id = instance.id
    audit.record("update", "catalogue_newtech_report", report.id, label=f"{project.name}：{report.title}",
                 before=before, after=audit.snapshot(report, ("status", "content")))
    return report


# --- closing -----------------------------------------------------------------------------------------------------

@atomic()
def close_trial(project: NewTechProject, user: User, decision: str | None, reason: str | None) -> NewTechProject:
    """Medical affairs closes the trial: 转常规 (an ordinary entry) or 终止 (the entry disabled)."""
    if project.status != "trial":
        raise ServiceError(f"该项目{project.status_label}，不能再作结论。", status=409)
    if decision not in DECISIONS:
        raise ServiceError("请选择结论：转常规或终止。", field="decision")
    text = clean(reason)
    if not text:
        raise ServiceError("请填写结论理由。", field="reason")
    if len(text) > 2000:
        raise ServiceError("结论理由不能超过 2000 字。", field="reason")
    before = audit.snapshot(project, FIELDS)
    tech = project.technology
    tech_before = _entry_state(tech)
    if decision == "routine":
        tech.new_tech = False
        note = f"新技术新项目“{project.name}”试用期满转为常规技术：{text}"
    else:
        tech.status = "disabled"
        note = f"新技术新项目“{project.name}”终止：{text}"
    tech.revision += 1
    _revise(tech, note, user.id)
    audit.record("update", "technology", tech.id, label=tech.name, before=tech_before, after=_entry_state(tech))
    project.status, project.decision_reason = decision, text
    project.decided_at, project.decided_by_id = utcnow(), user.id
    audit.record("update", "catalogue_newtech", project.id, label=project.name, before=before,
                 after=audit.snapshot(project, FIELDS))
    notify([project.applicant_id, project.lead.user.id if project.lead.user else None], "catalogue",
           f"新技术{DECISIONS[decision]}：{project.name}", text[:200], f"/catalogue/newtech/{project.id}")
    return project


# --- reminders ---------------------------------------------------------------------------------------------------

def remind_reports(today: date | None = None) -> dict[str, int]:
    """Tell the lead (and at the due date medical affairs) of reports due: 5 and 1 working days before, and on
    the day (or, if missed, at the next run); once per report per threshold."""
    today = today or local_today()
    horizon = workdays.add_working_days(today, max(REPORT_REMINDER_DAYS))
    reports = db.session.scalars(select(NewTechReport).join(NewTechReport.project).where(
        NewTechProject.status == "trial", NewTechReport.status.in_(("due", "returned")),
        NewTechReport.due_date <= horizon).order_by(NewTechReport.due_date)).all()
    sent = 0
    office = None
    for report in reports:
        left = workdays.working_days_between(today, report.due_date)
        crossed = [t for t in REPORT_REMINDER_DAYS if left <= t]
        done = set(db.session.scalars(select(CatalogueReminder.threshold).where(
            CatalogueReminder.subject == "report", CatalogueReminder.subject_id == report.id)))
        todo = [t for t in crossed if t not in done]
        if not todo:
            continue
        for threshold in todo:
            db.session.add(CatalogueReminder(subject="report", subject_id=report.id, threshold=threshold))
        db.session.flush()
        project = report.project
        people = [project.applicant_id, project.lead.user.id if project.lead.user else None]
        if 0 in todo:
            office = office if office is not None else active_user_ids_with_roles(MEDICAL_AFFAIRS)
            people += office
        when = f"还有 {left} 个工作日到期" if left > 0 else ("今天到期" if left == 0 else "已超期")
        notify(people, "catalogue", f"新技术进展报告{when}：{project.name}",
               f"{report.title}应于 {format_date(report.due_date)} 前提交。", f"/catalogue/newtech/{project.id}")
        sent += 1
    return {"reports": len(reports), "reminded": sent}


# --- approval subjects -----------------------------------------------------------------------------------------

class ProjectSubject(subjects.StatusSubject):
    entity_type = "catalogue_newtech"
    label = "新技术新项目"

    def summary(self, entity_id: int) -> Summary | None:
        p = db.session.get(NewTechProject, entity_id)
        if p is None:
            return None
        return Summary(title=p.name, url=f"/catalogue/newtech/{p.id}", facts=[
            ("编码", p.code), ("类别与等级", f"{CATEGORIES.get(p.category, p.category)} · {GRADES.get(p.grade)}"),
            ("科室", p.department.name), ("技术负责人", f"{p.lead.name}（{p.lead.employee_no}）"),
            ("试用期", f"{p.trial_months} 个月"), ("技术说明", p.description), ("风险评估", p.risk_assessment)])

    def _set(self, entity_id: int, status: str) -> NewTechProject:
        project = db.session.get(NewTechProject, entity_id)
        before = project.status
        project.status = status
        audit.record("update", "catalogue_newtech", project.id, label=project.name,
                     changes={"status": {"before": before, "after": status}})
        return project

    def on_approved(self, entity_id, instance):
        start_trial(db.session.get(NewTechProject, entity_id))


class ReportSubject:
    entity_type = "catalogue_newtech_report"
    label = "新技术进展报告"

    def summary(self, entity_id: int) -> Summary | None:
        r = db.session.get(NewTechReport, entity_id)
        if r is None:
            return None
        p = r.project
        return Summary(title=f"{p.name}：{r.title}", url=f"/catalogue/newtech/{p.id}", facts=[
            ("科室", p.department.name), ("技术负责人", p.lead.name), ("报告", r.title),
            ("应交日期", format_date(r.due_date)), ("报告内容", r.content or "—")])

    def _set(self, entity_id: int, status: str) -> NewTechReport:
        report = db.session.get(NewTechReport, entity_id)
        before = report.status
        report.status = status
        report.reviewed_at = utcnow() if status == "accepted" else None
        audit.record("update", "catalogue_newtech_report", report.id, label=report.title,
                     changes={"status": {"before": before, "after": status}})
        return report

    def on_approved(self, entity_id, instance):
        self._set(entity_id, "accepted")

    def on_returned(self, entity_id, instance):
        self._set(entity_id, "returned")

    def on_rejected(self, entity_id, instance):
        self._set(entity_id, "returned").approval_id = None  # a rejected report is written and submitted anew

    def on_withdrawn(self, entity_id, instance):
        self._set(entity_id, "due").approval_id = None


subjects.register(ProjectSubject())
subjects.register(ReportSubject())
