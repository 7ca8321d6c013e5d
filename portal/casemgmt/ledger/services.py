"""The service ledger (服务台账): completed tasks and ad-hoc services, their list and the monthly report.

Completed tasks reach the ledger through tasks.complete_task; an ad-hoc service (one that was on no
list) is written here. Case managers see their own rows; holders of casemgmt.view_all see all.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, case, false, func, or_, select
from sqlalchemy.orm import aliased

from portal.auth.models import Department, Role, Staff, User, user_roles
from portal.auth.org import kept_while_org_unchanged
from portal.core import audit, reveal
from portal.core.listing import Page, count_rows
from portal.core.masking import mask_name
from portal.core.months import month_bounds
from portal.core.service import ServiceError, clean
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.io.export import neutralise

from ..models import OUTCOMES, TASK_TYPES, LedgerEntry, Patient, Plan, PlanItem
from ..scoping import scope_to_manager
from . import summary

ADHOC_OUTCOMES = {k: v for k, v in OUTCOMES.items() if k != "rescheduled"}  # a service that happened has no new date
ADHOC_MAX_DAYS_BACK = 31
LEDGER_SOURCES = {"task": "任务清单", "adhoc": "临时服务"}
ICD10_PREFIX = re.compile(r"^[A-Z][0-9A-Z.]{0,15}$")
REPORT_OUTCOMES = ("reached", "not_reached", "declined")
ENTRY_FIELDS = ("service_date", "patient_id", "enrolment_id", "case_manager_id", "task_type", "title", "outcome",
                "icd10_code", "disease_name", "ward_id", "note")


def record_adhoc_service(patient: Patient, user: User, *, service_date: date, task_type: str, title: str = "",
                         outcome: str, note: str = "", today: date | None = None) -> LedgerEntry:
    """An ad-hoc service, on no task list, straight into the ledger under the user's name."""
    today = today or local_today()
    if not isinstance(service_date, date):
        raise ServiceError("请填写服务日期。", field="service_date")
    if service_date > today:
        raise ServiceError("服务日期不能晚于今天。", field="service_date")
    if service_date < today - timedelta(days=ADHOC_MAX_DAYS_BACK):
        raise ServiceError(f"只能补记 {ADHOC_MAX_DAYS_BACK} 天以内的服务。", field="service_date")
    if task_type not in TASK_TYPES:
        raise ServiceError("请选择服务类型。", field="task_type")
    if outcome not in ADHOC_OUTCOMES:
        raise ServiceError("请选择服务结果。", field="outcome")
    title = clean(title) or TASK_TYPES[task_type]
    if len(title) > 100:
        raise ServiceError("服务内容不超过 100 字。", field="title")
    note = clean(note)
    if len(note) > 500:
        raise ServiceError("备注不超过 500 字。", field="note")
    enrolment = patient.active_enrolment
    entry = LedgerEntry(service_date=service_date, patient_id=patient.id,
                        enrolment_id=enrolment.id if enrolment else None, case_manager_id=user.id, task_id=None,
                        task_type=task_type, title=title, outcome=outcome,
                        icd10_code=enrolment.icd10_code if enrolment else "",
                        disease_name=enrolment.disease_name if enrolment else "",
                        ward_id=enrolment.ward_id if enrolment else None, note=note)
    db.session.add(entry)
    db.session.flush()
    summary.count_entry(entry)
    audit.record("create", "ledger_entry", entry.id, label=f"{patient.masked_name} {title}",
                 after=audit.snapshot(entry, ENTRY_FIELDS))
    return entry


@dataclass
class LedgerFilters:
    month: date | None = None  # any day of the month; wins over the date range
    date_from: date | None = None
    date_to: date | None = None
    case_manager_id: int | None = None
    task_type: str = ""
    outcome: str = ""
    ward_id: int | None = None
    icd10: str = ""  # an ICD-10 code prefix: "C34" covers C34.1
    source: str = ""  # task / adhoc
    q: str = ""  # hospital number (prefix) or masked-name prefix (张, 张*, 张*三)

    def date_range(self) -> tuple[date | None, date | None]:
        return month_bounds(self.month) if self.month else (self.date_from, self.date_to)


def patient_search(q: str):
    """Patients by hospital number prefix or by masked-name prefix; None when there is nothing to search."""
    q = clean(q)
    if not q:
        return None
    conditions = []
    if re.fullmatch(r"[0-9A-Za-z\-]+", q):
        conditions.append(Patient.hospital_no.startswith(q, autoescape=True))
    name = reveal.masked_name_condition(Patient.name, q)  # hidden characters never compared
    if name is not None:
        conditions.append(name)
    return or_(*conditions) if conditions else false()


class LedgerRow:
    """One line of the ledger page, read-only: the entry with the patient's masked name and the names joined in."""

    __slots__ = ("case_manager_name", "disease_name", "hospital_no", "icd10_code", "note", "outcome",
                 "outcome_label", "patient_name", "service_date", "surveyed", "task_id", "task_type_label", "title",
                 "ward_name")

    def __init__(self, row):
        for name in ("case_manager_name", "disease_name", "hospital_no", "icd10_code", "note", "outcome",
                     "service_date", "surveyed", "task_id", "title", "ward_name"):
            setattr(self, name, row[name])
        self.patient_name = mask_name(row["patient_name"])
        self.task_type_label = TASK_TYPES.get(row["task_type"], row["task_type"])
        self.outcome_label = OUTCOMES.get(row["outcome"], row["outcome"])


_WARD, _MANAGER, _MANAGER_STAFF = aliased(Department), aliased(User), aliased(Staff)


def ledger_page(user: User, filters: LedgerFilters, page: int, per_page: int) -> Page:
    """One page of the ledger rows the user may see, filtered, newest first, as plain rows (LedgerRow); a page
    past the end shows the last one.

    The total is counted on the entries alone; the page's 20 entries are picked first (a subquery) and only
    they are joined to the patient, ward and case manager and checked for a satisfaction survey.
    """
    from ..models import SatisfactionSurvey

    filtered = _filtered(user, filters)
    total = count_rows(filtered)
    page = min(max(page, 1), max(1, math.ceil(total / per_page)))
    entries = (filtered.order_by(LedgerEntry.service_date.desc(), LedgerEntry.id.desc())
               .limit(per_page).offset((page - 1) * per_page).subquery())
    e = entries.c
    surveyed = select(SatisfactionSurvey.id).where(SatisfactionSurvey.task_id == e.task_id).exists()
    stmt = (select(e.service_date, e.task_id, e.task_type, e.title, e.note, e.outcome, e.icd10_code,
                   e.disease_name, Patient.name.label("patient_name"), Patient.hospital_no,
                   _WARD.name.label("ward_name"),
                   func.coalesce(_MANAGER_STAFF.name, _MANAGER.login_name).label("case_manager_name"),
                   surveyed.label("surveyed"))
            .select_from(entries).join(Patient, Patient.id == e.patient_id)
            .outerjoin(_WARD, _WARD.id == e.ward_id)
            .outerjoin(_MANAGER, _MANAGER.id == e.case_manager_id)
            .outerjoin(_MANAGER_STAFF, _MANAGER_STAFF.id == _MANAGER.staff_id)
            .order_by(e.service_date.desc(), e.id.desc()))
    return Page([LedgerRow(row) for row in db.session.execute(stmt).mappings()], page, per_page, total)


def ledger_rows_query(user: User, filters: LedgerFilters) -> Select:
    """The same rows as `ledger_page` for an export: plain columns (no ORM entities), names joined in SQL."""
    from sqlalchemy.orm import aliased

    from portal.auth.models import Staff

    ward = aliased(Department)
    manager = aliased(User)
    staff = aliased(Staff)
    return (_filtered(user, filters)
            .with_only_columns(LedgerEntry.service_date, Patient.name.label("patient_name"), Patient.hospital_no,
                               LedgerEntry.task_type, LedgerEntry.title, LedgerEntry.outcome, LedgerEntry.icd10_code,
                               LedgerEntry.disease_name, ward.name.label("ward_name"),
                               func.coalesce(staff.name, manager.login_name).label("case_manager_name"),
                               LedgerEntry.task_id, LedgerEntry.note, maintain_column_froms=False)
            .select_from(LedgerEntry)
            .join(Patient, Patient.id == LedgerEntry.patient_id)
            .outerjoin(ward, ward.id == LedgerEntry.ward_id)
            .outerjoin(manager, manager.id == LedgerEntry.case_manager_id)
            .outerjoin(staff, staff.id == manager.staff_id)
            .order_by(LedgerEntry.service_date.desc(), LedgerEntry.id.desc()))


def _filtered(user: User, filters: LedgerFilters) -> Select:
    stmt = scope_to_manager(select(LedgerEntry), LedgerEntry.case_manager_id, user)
    start, end = filters.date_range()
    if start:
        stmt = stmt.where(LedgerEntry.service_date >= start)
    if end:
        stmt = stmt.where(LedgerEntry.service_date <= end)
    if filters.case_manager_id:
        stmt = stmt.where(LedgerEntry.case_manager_id == filters.case_manager_id)
    if filters.task_type:
        stmt = stmt.where(LedgerEntry.task_type == filters.task_type)
    if filters.outcome:
        stmt = stmt.where(LedgerEntry.outcome == filters.outcome)
    if filters.ward_id:
        stmt = stmt.where(LedgerEntry.ward_id == filters.ward_id)
    if filters.icd10:
        stmt = stmt.where(LedgerEntry.icd10_code.startswith(filters.icd10, autoescape=True))
    if filters.source == "task":
        stmt = stmt.where(LedgerEntry.task_id.is_not(None))
    elif filters.source == "adhoc":
        stmt = stmt.where(LedgerEntry.task_id.is_(None))
    match = patient_search(filters.q)
    if match is not None:
        stmt = stmt.where(LedgerEntry.patient_id.in_(select(Patient.id).where(match)))
    return stmt


def case_manager_choices(blank: str | None = "全部个案管理师") -> list[tuple]:
    """(id, name) of every holder of the case-manager role, former ones included (old months name them).
    Kept per worker while users, roles and staff are unchanged."""
    def read():
        rows = db.session.execute(select(User.id, User.login_name, User.is_active_flag, Staff.id, Staff.name)
                                  .outerjoin(Staff, Staff.id == User.staff_id)
                                  .join(user_roles, user_roles.c.user_id == User.id)
                                  .join(Role, Role.id == user_roles.c.role_id).where(Role.code == "case_manager")
                                  .order_by(User.id))
        return tuple((user_id, (name if staff_id is not None else login_name) + ("" if active else "（已停用）"))
                     for user_id, login_name, active, staff_id, name in rows)

    choices = [("", blank)] if blank is not None else []
    return choices + list(kept_while_org_unchanged("casemgmt.ledger_manager_choices", None, read))


def ward_choices(blank: str | None = "全部病区") -> list[tuple]:
    """(id, name) of the wards (and departments used as wards) services can be recorded in.
    Kept per worker while departments are unchanged."""
    def read():
        rows = db.session.execute(select(Department.id, Department.name)
                                  .where(Department.kind.in_(("ward", "department")))
                                  .order_by(Department.kind.desc(), Department.path, Department.sort_order,
                                            Department.name))
        return tuple((i, n) for i, n in rows)

    return ([("", blank)] if blank is not None else []) + list(
        kept_while_org_unchanged("casemgmt.ledger_ward_choices", None, read))


# --- the monthly service report -------------------------------------------------------------------------


def _table_row(row: dict, label: str, **extra) -> dict:
    return {"label": label, "services": int(row.get("services") or 0), "patients": int(row.get("patients") or 0),
            **{code: int(row.get(code) or 0) for code in REPORT_OUTCOMES}, **extra}


def monthly_report(month: date, *, user: User | None = None) -> dict:
    """Services in a month per service type, per case manager and per disease; `user` limits it to their rows.

    The three tables are the declared reports of casemgmt/reports.py, run through the registry.
    """
    from portal.reports import engine
    from portal.reports.params import Params

    from .. import reports

    start, end = month_bounds(month)
    results = {key: engine.run(report, Params(start, end, start, None, {f.name: "" for f in report.filters}), user,
                               links=False) for key, report in reports.MONTHLY}
    types, managers, diseases = results["by_type"], results["by_manager"], results["by_disease"]
    by_type = [_table_row(r, types.label("task_type", r["task_type"]), task_type=r["task_type"]) for r in types.rows]
    by_manager = sorted((_table_row(r, managers.label("case_manager_id", r["case_manager_id"]),
                                    case_manager_id=r["case_manager_id"]) for r in managers.rows),
                        key=lambda r: (-r["services"], r["label"]))
    by_disease = sorted((_table_row(r, f"{r['icd10_code']} {r['disease_name']}".strip() if r["icd10_code"]
                                    else "未入组", icd10_code=r["icd10_code"], disease_name=r["disease_name"])
                         for r in diseases.rows), key=lambda r: (-r["services"], r["icd10_code"] or "~"))
    total = _table_row(types.totals, "合计")
    return {"month": start, "end": end, "by_type": by_type, "by_manager": by_manager, "by_disease": by_disease,
            "total": total, "plans": plan_punctuality(start, end), "results": results}


def plan_punctuality(start: date, end: date) -> dict:
    """How the hospital's next-day plans of the period arrived: days planned, days late, items late."""
    days, late_days = db.session.execute(select(func.count(), func.count(case((Plan.is_late, 1)))).where(
        Plan.plan_date.between(start, end))).one()
    items, late_items = db.session.execute(
        select(func.count(), func.count(case((PlanItem.is_late, 1)))).join(Plan, Plan.id == PlanItem.plan_id)
        .where(Plan.plan_date.between(start, end))).one()
    return {"days": days, "late_days": late_days, "items": items, "late_items": late_items}


REPORT_SHEETS = (("by_type", "按服务类型", "服务类型"), ("by_manager", "按个案管理师", "个案管理师"),
                 ("by_disease", "按病种", "病种（ICD-10）"))
REPORT_HEADERS = ("服务人次", "服务人数", "已完成（联系上）", "未联系上", "患者拒绝")


def monthly_report_xlsx(report: dict, hospital: str) -> bytes:
    """The report as one workbook, a sheet per table, written in write-only mode."""
    wb = Workbook(write_only=True)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDE6F5")
    title = f"{hospital} 月度服务报表 {report['month']:%Y年%m月}"
    for key, sheet_title, first_header in REPORT_SHEETS:
        ws = wb.create_sheet(title=sheet_title)
        for index, width in enumerate((28, 12, 12, 18, 12, 12), start=1):
            ws.column_dimensions[get_column_letter(index)].width = width
        ws.freeze_panes = "A3"
        heading = WriteOnlyCell(ws, value=neutralise(title))
        heading.font = bold
        ws.append([heading])
        header = []
        for text in (first_header, *REPORT_HEADERS):
            cell = WriteOnlyCell(ws, value=text)
            cell.font, cell.fill = bold, fill
            header.append(cell)
        ws.append(header)
        for row in [*report[key], report["total"]]:
            ws.append([neutralise(row["label"]), row["services"], row["patients"],
                       *(row[code] for code in REPORT_OUTCOMES)])
        if report[key]:
            _add_chart(ws, sheet_title, len(report[key]), pie=key == "by_disease")
    plans = report["plans"]
    ws = wb.create_sheet(title="次日计划下达")
    ws.column_dimensions["A"].width = 28
    heading = WriteOnlyCell(ws, value=neutralise(title))
    heading.font = bold
    ws.append([heading])
    for label, value in (("有计划的服务日（天）", plans["days"]), ("迟报的服务日（天）", plans["late_days"]),
                         ("计划项目（项）", plans["items"]), ("迟报的计划项目（项）", plans["late_items"])):
        ws.append([label, value])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _add_chart(ws, title: str, rows: int, pie: bool = False) -> None:
    """A native Excel chart of the services column (B) over the labels (A), rows 3 to the last before 合计."""
    from openpyxl.chart import BarChart, PieChart, Reference

    chart = PieChart() if pie else BarChart()
    chart.title = f"服务人次（{title}）"
    chart.height, chart.width = 9, 16
    chart.add_data(Reference(ws, min_col=2, max_col=2, min_row=2, max_row=rows + 2), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, max_col=1, min_row=3, max_row=rows + 2))
    ws.add_chart(chart, "H2")


def audit_report_export(month: date) -> None:
    audit.record("export", "ledger_entry", "", label="月度服务报表导出", changes={"month": f"{month:%Y-%m}"})

