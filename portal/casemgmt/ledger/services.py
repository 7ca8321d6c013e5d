"""The service ledger (服务台账): completed tasks and ad-hoc services, their list and the monthly report.

Completed tasks reach the ledger through tasks.complete_task; an ad-hoc service (one that was on no
list) is written here. Case managers see their own rows; holders of casemgmt.view_all see all.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, case, distinct, false, func, or_, select
from sqlalchemy.orm import selectinload

from portal.auth.models import Department, Role, User, user_roles
from portal.core import audit, reveal
from portal.core.months import month_bounds
from portal.core.service import ServiceError, clean
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.io.export import neutralise

from ..models import OUTCOMES, TASK_TYPES, LedgerEntry, Patient, Plan, PlanItem
from ..scoping import scope_to_manager

audit.register_entity("ledger_entry", "服务台账")

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


def ledger_query(user: User, filters: LedgerFilters) -> Select:
    """The ledger rows the user may see, filtered, newest first."""
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
    return (stmt.options(selectinload(LedgerEntry.case_manager).selectinload(User.staff))
            .order_by(LedgerEntry.service_date.desc(), LedgerEntry.id.desc()))


def surveyed_task_ids(task_ids: list[int]) -> set[int]:
    """Which of these tasks already have a satisfaction survey (one query for a page of rows)."""
    from ..models import SatisfactionSurvey

    ids = [i for i in task_ids if i]
    if not ids:
        return set()
    return set(db.session.scalars(select(SatisfactionSurvey.task_id).where(SatisfactionSurvey.task_id.in_(ids))))


def case_manager_choices(blank: str | None = "全部个案管理师") -> list[tuple]:
    """(id, name) of every holder of the case-manager role, former ones included (old months name them)."""
    users = db.session.scalars(select(User).join(user_roles, user_roles.c.user_id == User.id)
                               .join(Role, Role.id == user_roles.c.role_id).where(Role.code == "case_manager")
                               .options(selectinload(User.staff)).order_by(User.id)).unique().all()
    choices = [("", blank)] if blank is not None else []
    return choices + [(u.id, u.display_name + ("" if u.is_active_flag else "（已停用）")) for u in users]


def ward_choices(blank: str | None = "全部病区") -> list[tuple]:
    """(id, name) of the wards (and departments used as wards) services can be recorded in."""
    rows = db.session.execute(select(Department.id, Department.name).where(Department.kind.in_(("ward", "department")))
                              .order_by(Department.kind.desc(), Department.path, Department.sort_order,
                                        Department.name)).all()
    return ([("", blank)] if blank is not None else []) + [(i, n) for i, n in rows]


# --- the monthly service report -------------------------------------------------------------------------


def _measures():
    return (func.count(LedgerEntry.id), func.count(distinct(LedgerEntry.patient_id)),
            *(func.sum(case((LedgerEntry.outcome == code, 1), else_=0)) for code in REPORT_OUTCOMES))


def _row(label: str, measures, **extra) -> dict:
    services, patients, *by_outcome = measures
    return {"label": label, "services": int(services or 0), "patients": int(patients or 0),
            **{code: int(n or 0) for code, n in zip(REPORT_OUTCOMES, by_outcome, strict=True)}, **extra}


def monthly_report(month: date, *, user: User | None = None) -> dict:
    """Services in a month per service type, per case manager and per disease; `user` limits it to their rows."""
    start, end = month_bounds(month)

    def grouped(*columns) -> list:
        stmt = select(*columns, *_measures()).where(LedgerEntry.service_date.between(start, end))
        if user is not None:
            stmt = scope_to_manager(stmt, LedgerEntry.case_manager_id, user)
        return db.session.execute(stmt.group_by(*columns)).all() if columns else db.session.execute(stmt).all()

    order = list(TASK_TYPES)
    by_type = [_row(TASK_TYPES.get(code, code), rest, task_type=code)
               for code, *rest in sorted(grouped(LedgerEntry.task_type),
                                         key=lambda r: order.index(r[0]) if r[0] in order else len(order))]
    manager_rows = grouped(LedgerEntry.case_manager_id)
    ids = [r[0] for r in manager_rows if r[0] is not None]
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids))
                                                 .options(selectinload(User.staff)))} if ids else {}
    by_manager = sorted((_row(users[uid].display_name if uid in users else "未分配", rest, case_manager_id=uid)
                         for uid, *rest in manager_rows), key=lambda r: (-r["services"], r["label"]))
    by_disease = sorted((_row(f"{code} {name}".strip() if code else "未入组", rest, icd10_code=code,
                              disease_name=name) for code, name, *rest in
                         grouped(LedgerEntry.icd10_code, LedgerEntry.disease_name)),
                        key=lambda r: (-r["services"], r["icd10_code"] or "~"))
    (total,) = grouped()
    return {"month": start, "end": end, "by_type": by_type, "by_manager": by_manager, "by_disease": by_disease,
            "total": _row("合计", total), "plans": plan_punctuality(start, end)}


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


def audit_report_export(month: date) -> None:
    audit.record("export", "ledger_entry", "", label="月度服务报表导出", changes={"month": f"{month:%Y-%m}"})

