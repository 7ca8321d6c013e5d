"""The service ledger (服务台账): the list with its filters and export, ad-hoc services, the monthly report."""

from __future__ import annotations

from datetime import date

from flask import current_app, flash, request, url_for

from portal.core.listing import arg_choice, arg_date, arg_int, arg_month, arg_str, bad_request
from portal.core.masking import mask_name
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render, wants_partial
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.io.export import Column, ExportSpec, export_registered, register_export, send_xlsx

from .. import LEDGER, bp
from .. import reports as cm_reports
from ..models import OUTCOMES, TASK_TYPES
from ..patients.services import find_by_ref
from ..scoping import may_see_patient, me, sees_all
from . import services as ledger
from .forms import AdhocServiceForm

OUTCOME_BADGES = {"reached": "ok", "not_reached": "warn", "declined": "off", "rescheduled": "wait"}
NOT_FOUND_PATIENT = "未找到该患者，或该患者不在您的服务范围内。请核对住院号或证件号码。"


def _filters() -> tuple[ledger.LedgerFilters, dict]:
    month = arg_month()
    date_from, date_to = arg_date("date_from"), arg_date("date_to")
    if date_from and date_to and date_from > date_to:
        raise bad_request("开始日期不能晚于结束日期")
    icd10 = arg_str("icd10", 16).upper()
    if icd10 and not ledger.ICD10_PREFIX.fullmatch(icd10):
        raise bad_request("ICD-10 编码前缀格式不正确（如 C34 或 C34.1）")
    filters = ledger.LedgerFilters(
        month=month, date_from=None if month else date_from, date_to=None if month else date_to,
        case_manager_id=arg_int("case_manager_id"), task_type=arg_choice("task_type", TASK_TYPES),
        outcome=arg_choice("outcome", OUTCOMES), ward_id=arg_int("ward_id"), icd10=icd10,
        source=arg_choice("source", ledger.LEDGER_SOURCES), q=arg_str("q", 32))
    args = {"month": f"{month:%Y-%m}" if month else "", "date_from": filters.date_from or "",
            "date_to": filters.date_to or "", "case_manager_id": filters.case_manager_id or "",
            "task_type": filters.task_type, "outcome": filters.outcome, "ward_id": filters.ward_id or "",
            "icd10": icd10, "source": filters.source, "q": filters.q}
    return filters, args


@bp.route("/ledger")
@require(LEDGER)
def list_ledger():
    """Completed tasks and ad-hoc services: one's own, or all with casemgmt.view_all."""
    filters, args = _filters()
    user = me()
    page = ledger.ledger_page(user, filters, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    all_rows = sees_all(user)
    # The filter's choices are only on the full page, not in the rows an htmx filter swaps.
    choices = {} if wants_partial() else {"managers": ledger.case_manager_choices() if all_rows else [],
                                          "wards": ledger.ward_choices()}
    return render("casemgmt/ledger/ledger_list.html",
                  "casemgmt/ledger/_ledger_rows.html", page=page, args=args, filters=filters, sees_all=all_rows,
                  task_types=TASK_TYPES, outcomes=ledger.ADHOC_OUTCOMES,
                  sources=ledger.LEDGER_SOURCES, outcome_badges=OUTCOME_BADGES, **choices)


def _disease(entry) -> str:
    return f"{entry.icd10_code} {entry.disease_name}".strip()


# The export reads plain rows (ledger_rows_query): no ORM entities for up to 100,000 rows.
LEDGER_EXPORT_COLUMNS = [
    Column("服务日期", lambda r: r.service_date, 12),
    Column("患者", lambda r: mask_name(r.patient_name), 10),
    Column("住院号", lambda r: r.hospital_no or "", 14),
    Column("服务类型", lambda r: TASK_TYPES.get(r.task_type, r.task_type), 14),
    Column("服务内容", lambda r: r.title, 28),
    Column("服务结果", lambda r: OUTCOMES.get(r.outcome, r.outcome), 16),
    Column("病种", lambda r: _disease(r), 24),
    Column("病区", lambda r: r.ward_name or "", 14),
    Column("个案管理师", lambda r: r.case_manager_name or "", 12),
    Column("来源", lambda r: ledger.LEDGER_SOURCES["task" if r.task_id else "adhoc"], 10),
    Column("备注", lambda r: r.note, 30),
]


def _ledger_export(user, query_args) -> ExportSpec:
    filters, args = _filters()
    return ExportSpec(ledger.ledger_rows_query(user, filters), LEDGER_EXPORT_COLUMNS, "服务台账", "ledger_entry",
                      args, plain=True)


register_export("ledger_entry", _ledger_export, LEDGER)


@bp.route("/ledger/export")
@require(LEDGER)
def export_ledger():
    """The ledger exactly as filtered and scoped, names masked, as .xlsx (a background job when large)."""
    return export_registered("ledger_entry", request.args)


@bp.route("/ledger/new", methods=["GET", "POST"])
@require(LEDGER)
def new_adhoc_service():
    """Record a service that was on no task list (a patient who came by, a call taken)."""
    form = AdhocServiceForm()
    if request.method == "GET":
        form.service_date.data = local_today()
    if form.validate_on_submit():
        user = me()
        patient = find_by_ref(form.patient_ref.data)
        if patient is None or not may_see_patient(patient, user):
            form.apply_error(ServiceError(NOT_FOUND_PATIENT, field="patient_ref"))
        else:
            try:
                entry = ledger.record_adhoc_service(patient, user, service_date=form.service_date.data,
                                                    task_type=form.task_type.data, title=form.title.data,
                                                    outcome=form.outcome.data, note=form.note.data)
            except ServiceError as error:
                form.apply_error(error)
            else:
                flash(f"已记录 {patient.masked_name} 的临时服务：{entry.title}。", "success")
                return htmx_redirect(url_for("casemgmt.list_ledger"))
    status = 422 if request.method == "POST" else 200
    return render("casemgmt/ledger/ledger_form.html", "casemgmt/ledger/_ledger_form.html", status=status, form=form,
                  max_days=ledger.ADHOC_MAX_DAYS_BACK)


def _report_month() -> date:
    return arg_month() or local_today().replace(day=1)


@bp.route("/ledger/report")
@require(LEDGER)
def monthly_report():
    """Services of a month per service type, per case manager and per disease."""
    month = _report_month()
    report = ledger.monthly_report(month, user=me())
    charts = {key: result.chart_data() for key, result in report["results"].items()}
    codes = {key: declared.code for key, declared in cm_reports.MONTHLY}
    return render("casemgmt/ledger/monthly_report.html", "casemgmt/ledger/_ledger_report.html", report=report,
                  month_value=f"{month:%Y-%m}", sees_all=sees_all(me()), charts=charts, codes=codes)


@bp.route("/ledger/report/export")
@require(LEDGER)
def export_monthly_report():
    """The month's three tables as one workbook with three sheets."""
    month = _report_month()
    report = ledger.monthly_report(month, user=me())
    ledger.audit_report_export(month)
    content = ledger.monthly_report_xlsx(report, current_app.config["HOSPITAL_NAME"])
    return send_xlsx(content, f"月度服务报表_{month:%Y%m}.xlsx")
