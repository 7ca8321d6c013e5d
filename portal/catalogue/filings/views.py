"""Restricted-technology filings: the tracker, the first-case entry, documents and the filing itself."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth.queries import department_choices
from portal.core import workdays
from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404, get_scoped_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.io.export import Column, export_query

from .. import FILINGS, VIEW, bp
from ..models import DOCUMENT_SLOTS, FILING_STATES, FilingDocument, RestrictedFiling
from ..models.filings import DEADLINE_WORKING_DAYS, REMINDER_DAYS, URGENT_DAYS
from . import services
from .forms import DocumentForm, FiledForm, FirstCaseForm

RULE = (f"依据《医疗技术临床应用管理办法》，限制类技术在本院首例临床应用后 {DEADLINE_WORKING_DAYS} 个工作日内，"
        "须向核发《医疗机构执业许可证》的卫生健康行政部门备案（工作日按国家法定节假日与调休计算）。")


def _common(today, filings=()):
    calendar = services.calendar_for(filings, today)
    return {"today": today, "rule": RULE, "urgent_days": URGENT_DAYS, "reminder_days": REMINDER_DAYS,
            "days_left": lambda f: services.days_left(f, today, calendar), "mask": services.mask_record_no}


@bp.route("/filings")
@require(VIEW)
def list_filings():
    """Filings with their deadline and working days left, nearest first."""
    today = local_today()
    status = arg_choice("status", FILING_STATES)
    overdue = arg_choice("overdue", ("1",)) == "1"
    args = {"status": status, "overdue": "1" if overdue else ""}
    page = paginate(services.list_query(current_user.principal, status, overdue, today), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"])
    deadlines = [f.deadline for f in page.items if f.status != "filed"]
    warning = workdays.warning(today, max(deadlines)) if deadlines else ""
    return render("catalogue/filings/filing_list.html", "catalogue/filings/_filing_rows.html", page=page, args=args,
                  states=FILING_STATES, status_filter=status, overdue=overdue, warning=warning,
                  **_common(today, page.items))


@bp.route("/filings/export")
@require(VIEW)
def export_filings():
    """The filings list exactly as filtered (and scoped), as .xlsx; 病案号 masked as on screen."""
    today = local_today()
    status = arg_choice("status", FILING_STATES)
    overdue = arg_choice("overdue", ("1",)) == "1"

    def left(f):
        return "" if f.status == "filed" else services.days_left(f, today, calendars.setdefault(
            f.deadline, services.calendar_for([f], today)))

    calendars: dict = {}

    columns = [
        Column("技术编码", lambda f: f.technology.code, 14), Column("技术", lambda f: f.technology.name, 28),
        Column("科室", lambda f: f.department.name, 14), Column("首例日期", lambda f: f.first_case_date, 12),
        Column("病案号", lambda f: services.mask_record_no(f.patient_record_no), 12),
        Column("术者", lambda f: f.surgeon.name, 10), Column("备案期限", lambda f: f.deadline, 12),
        Column("剩余工作日", left, 10), Column("缺少材料", lambda f: "、".join(f.missing_slots), 30),
        Column("状态", lambda f: f.status_label + ("（已超期）" if f.is_overdue(today) else ""), 12),
        Column("备案号", lambda f: f.filing_no, 16), Column("备案日期", lambda f: f.filed_on, 12),
    ]
    stmt = services.list_query(current_user.principal, status, overdue, today)
    return export_query(stmt, columns, "限制类技术备案", {"status": status, "overdue": "1" if overdue else ""},
                        "catalogue_filing")


def _first_case_form(form: FirstCaseForm | None = None) -> FirstCaseForm:
    form = form or FirstCaseForm()
    form.technology_id.choices = select_choices(
        [("", "（请选择）"), *services.restricted_technologies()])
    form.department_id.choices = select_choices(department_choices(current_user.principal, FILINGS,
                                                                   blank="（请选择）", active_only=True))
    return form


@bp.route("/filings/new", methods=["GET", "POST"])
@require(FILINGS)
def new_filing():
    """Record the first clinical case of a restricted technology: its filing opens with the deadline."""
    form = _first_case_form()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                surgeon_id = services.staff_id_by_employee_no(form.surgeon_employee_no.data,
                                                              field="surgeon_employee_no")
                filing = services.open_filing(
                    technology_id=form.technology_id.data, first_case_date=form.first_case_date.data,
                    patient_record_no=form.patient_record_no.data, surgeon_staff_id=surgeon_id,
                    department_id=form.department_id.data)
            except ServiceError as error:
                form.apply_error(error)
                status = error.status
            else:
                flash(f"已登记首例病例，备案期限 {filing.deadline.isoformat()}。", "success")
                return redirect(url_for("catalogue.view_filing", filing_id=filing.id), 303)
    return render("catalogue/filings/filing_form.html", status=status, form=form, rule=RULE,
                  warning=workdays.warning(local_today()))


def _detail(filing: RestrictedFiling, status: int = 200, doc_form=None, filed_form=None, error: str = ""):
    today = local_today()
    can_edit = current_user.principal.can_act_on(FILINGS, filing.department_id) and filing.status != "filed"
    doc_form = doc_form or DocumentForm(formdata=None)
    doc_form.slot.choices = select_choices([("", "（请选择）"), *DOCUMENT_SLOTS.items()])
    return render("catalogue/filings/filing_detail.html", status=status, filing=filing, can_edit=can_edit,
                  doc_form=doc_form, error=error, filed_form=filed_form or FiledForm(formdata=None),
                  warning=workdays.warning(filing.first_case_date, filing.deadline), **_common(today, [filing]))


@bp.route("/filings/<int:filing_id>")
@require(VIEW)
def view_filing(filing_id: int):
    """One filing: the first case, the deadline, the documents and the filing result."""
    return _detail(get_scoped_or_404(RestrictedFiling, filing_id, current_user.principal, VIEW))


@bp.route("/filings/<int:filing_id>/documents", methods=["POST"])
@require(FILINGS)
def upload_filing_document(filing_id: int):
    """Attach a document to one of the filing's slots."""
    filing = get_scoped_or_404(RestrictedFiling, filing_id, current_user.principal, FILINGS, seen_with=VIEW)
    form = DocumentForm()
    form.slot.choices = select_choices([("", "（请选择）"), *DOCUMENT_SLOTS.items()])
    if form.validate_on_submit():
        upload = request.files.get("attachments")
        try:
            services.add_document(filing, form.slot.data, (upload.filename, upload.read()) if upload else None,
                                  current_user)
        except ServiceError as error:
            form.apply_error(error)
            return _detail(filing, error.status, doc_form=form)
        flash("材料已上传。", "success")
        return redirect(url_for("catalogue.view_filing", filing_id=filing.id), 303)
    return _detail(filing, 422, doc_form=form)


def _document(doc_id: int, perm) -> FilingDocument:
    doc = get_or_404(FilingDocument, doc_id)
    get_scoped_or_404(RestrictedFiling, doc.filing_id, current_user.principal, perm, seen_with=VIEW)
    return doc


@bp.route("/filings/documents/<int:doc_id>")
@require(VIEW)
def download_filing_document(doc_id: int):
    """A filing document, inline for PDF and images, to users who may see the filing."""
    doc = _document(doc_id, VIEW)
    response = Response(doc.content, mimetype=doc.content_type)
    response.headers["Content-Disposition"] = (f"{'inline' if doc.inline else 'attachment'}; "
                                               f"filename*=UTF-8''{quote(doc.filename)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return response


@bp.route("/filings/documents/<int:doc_id>/delete", methods=["POST"])
@require(FILINGS)
def delete_filing_document(doc_id: int):
    """Remove a wrongly uploaded document (before the technology is filed)."""
    doc = _document(doc_id, FILINGS)
    filing_id = doc.filing_id
    try:
        services.remove_document(doc)
    except ServiceError as error:
        return _detail(doc.filing, error.status, error=error.message)
    flash("已删除该材料。", "success")
    return redirect(url_for("catalogue.view_filing", filing_id=filing_id), 303)


@bp.route("/filings/<int:filing_id>/filed", methods=["POST"])
@require(FILINGS)
def record_filing(filing_id: int):
    """Record the filing's number and date (all documents present)."""
    filing = get_scoped_or_404(RestrictedFiling, filing_id, current_user.principal, FILINGS, seen_with=VIEW)
    form = FiledForm()
    if form.validate_on_submit():
        try:
            services.record_filing(filing, filing_no=form.filing_no.data, filed_on=form.filed_on.data)
        except ServiceError as error:
            form.apply_error(error)
            return _detail(filing, error.status, filed_form=form)
        flash("已登记备案。", "success")
        return redirect(url_for("catalogue.view_filing", filing_id=filing.id), 303)
    return _detail(filing, 422, filed_form=form)
