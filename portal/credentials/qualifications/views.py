"""Qualification pages: medical affairs' list, a person's qualifications, a record with its history, the
clinician's own qualifications and application (phone layout: they open in WeCom), and the types."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.approvals.models import ApprovalInstance
from portal.auth.queries import department_choices
from portal.core import labels
from portal.core.audit import AuditLog
from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, arg_str, paginate
from portal.core.permissions import SIGNED_IN, has_permission, require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.io.export import Column, ExportSpec, export_registered, register_export

from .. import (
    APPLY_QUALIFICATION,
    CONFIGURE_QUALIFICATIONS,
    MANAGE_QUALIFICATIONS,
    VIEW_QUALIFICATIONS,
    bp,
)
from ..models.qualifications import CATEGORIES, LIST_STATES, Qualification, QualificationType
from . import queries, services
from .forms import QualificationForm, StateForm, TypeForm

MAX_FILES = services.MAX_FILES


def _filters() -> queries.Filters:
    return queries.Filters(q=arg_str("q", 50), type_id=arg_int("type_id"), department_id=arg_int("department_id"),
                           state=arg_choice("state", LIST_STATES),
                           expiring_days=arg_int("expiring", maximum=queries.MAX_EXPIRING_DAYS))


def _type_choices() -> dict:
    return {t.id: t.name for t in services.all_types()}


@bp.route("/qualifications")
@require(VIEW_QUALIFICATIONS)
def list_qualifications():
    """Qualification records in the user's departments: search, filters, expiring within N days."""
    filters, today = _filters(), local_today()
    principal = current_user.principal
    page = paginate(queries.list_query(principal, filters, today), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("credentials/qualifications/qualification_list.html",
                  "credentials/qualifications/_qualification_rows.html", page=page, args=filters.args(),
                  filters=filters, today=today, states=LIST_STATES, types=_type_choices(),
                  departments=department_choices(principal, VIEW_QUALIFICATIONS))


EXPORT_COLUMNS = [
    Column("工号", lambda q: q.staff.employee_no, 10),
    Column("姓名", lambda q: q.staff.name, 10),
    Column("科室", lambda q: q.staff.department.name, 14),
    Column("资质类型", lambda q: q.type.name, 20),
    Column("级别", lambda q: q.level, 12),
    Column("证书编号", lambda q: q.number, 20),
    Column("发证机关", lambda q: q.issuer, 20),
    Column("发证日期", lambda q: q.issued_on, 12),
    Column("有效期起", lambda q: q.valid_from, 12),
    Column("有效期至", lambda q: q.valid_to, 12),
    Column("范围", lambda q: q.scope, 20),
    Column("状态", lambda q: q.state_label(local_today()), 10),
    Column("来源", lambda q: q.source_label, 10),
]


def _export_spec(user, args) -> ExportSpec:
    filters = _filters()
    return ExportSpec(queries.list_query(user.principal, filters, local_today()), EXPORT_COLUMNS, "资质清单",
                      "qualification", filters.args())


register_export("qualification", _export_spec, VIEW_QUALIFICATIONS)
labels.register_filters("qualification", {"q": "姓名、工号或证书编号", "type_id": "资质类型", "state": "状态",
                                          "expiring": "到期天数"},
                        {"state": LIST_STATES, "type_id": lambda v: _type_choices().get(int(v)) if str(v).isdigit()
                         else None})


@bp.route("/qualifications/export")
@require(VIEW_QUALIFICATIONS)
def export_qualifications():
    """The qualification list exactly as filtered (and scoped), as .xlsx (a background job when it is large)."""
    return export_registered("qualification", request.args)


def _visible(record_id: int) -> Qualification:
    """A record the user may see: their own, or one in the departments they may view qualifications of."""
    record = get_or_404(Qualification, record_id)
    own = current_user.staff_id is not None and record.staff_id == current_user.staff_id
    if not own and not (has_permission(current_user, VIEW_QUALIFICATIONS)
                        and current_user.principal.can_act_on(VIEW_QUALIFICATIONS, record.staff.department_id)):
        abort(404)
    return record


def _history(record: Qualification) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "qualification",
                                                          AuditLog.entity_id == str(record.id))
                                   .order_by(AuditLog.id)))


def _detail(record: Qualification, form: StateForm | None = None, status: int = 200):
    can_manage = (has_permission(current_user, MANAGE_QUALIFICATIONS)
                  and current_user.principal.can_act_on(MANAGE_QUALIFICATIONS, record.staff.department_id))
    instance = db.session.get(ApprovalInstance, record.approval_id) if record.approval_id else None
    return render("credentials/qualifications/qualification_detail.html", status=status, record=record,
                  today=local_today(), attachments=services.attachments_of(record), history=_history(record),
                  instance=instance, can_manage=can_manage, form=form or StateForm(formdata=None),
                  own=record.staff_id == current_user.staff_id,
                  transitions=services.TRANSITIONS, superseded_by=db.session.scalar(
                      select(Qualification.id).where(Qualification.supersedes_id == record.id)))


@bp.route("/qualifications/<int:record_id>")
@require(SIGNED_IN)
def view_qualification(record_id: int):
    """One qualification: facts, state, attachments, approval progress and the history of changes."""
    return _detail(_visible(record_id))


@bp.route("/qualifications/<int:record_id>/attachments/<int:attachment_id>")
@require(SIGNED_IN)
def download_qualification_attachment(record_id: int, attachment_id: int):
    """An attachment of a qualification, to those who may see the qualification (inline for images and PDF)."""
    record = _visible(record_id)
    item = next((a for a in services.attachments_of(record) if a.id == attachment_id), None)
    if item is None:
        abort(404)
    disposition = "inline" if item.kind in ("image", "pdf") else "attachment"
    response = Response(item.content, mimetype=item.content_type)
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(item.filename)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return response


@bp.route("/qualifications/<int:record_id>/state", methods=["POST"])
@require(MANAGE_QUALIFICATIONS)
def change_qualification_state(record_id: int):
    """Medical affairs suspends, restores or revokes a qualification, with a reason."""
    record = get_or_404(Qualification, record_id)
    if not current_user.principal.can_act_on(MANAGE_QUALIFICATIONS, record.staff.department_id):
        abort(404)
    form = StateForm()
    if form.validate_on_submit():
        try:
            services.change_state(record, form.action.data, form.reason.data)
        except ServiceError as error:
            form.apply_error(error)
            return _detail(record, form, error.status)
        flash(f"已{services.TRANSITIONS[form.action.data][2]}：{record.display_name}。", "success")
        return redirect(url_for("credentials.view_qualification", record_id=record.id), 303)
    return _detail(record, form, 422)


@bp.route("/people/<int:staff_id>")
@require(VIEW_QUALIFICATIONS)
def view_person(staff_id: int):
    """A person's qualifications: what counts today, what is expiring, and the history of every record."""
    staff = queries.staff_in_scope(staff_id, current_user.principal)
    if staff is None:
        abort(404)
    today = local_today()
    records = queries.person_records(staff.id)
    return render("credentials/qualifications/person.html", staff=staff, records=records, today=today,
                  current=[r for r in records if r.status in ("active", "expired", "suspended")],
                  can_manage=current_user.principal.can_act_on(MANAGE_QUALIFICATIONS, staff.department_id)
                  and has_permission(current_user, MANAGE_QUALIFICATIONS))


def _level_choices(form: QualificationForm, types: list[QualificationType]) -> None:
    """The levels of the chosen type (all levels until a type is chosen: the form works without JavaScript)."""
    chosen = next((t for t in types if t.id == form.type_id.data), None)
    levels = chosen.level_list if chosen else list(dict.fromkeys(lv for t in types for lv in t.level_list))
    blank = "（请选择级别）" if chosen and levels else "（无级别）"
    form.level.choices = select_choices([("", blank)] + [(level, level) for level in levels])


def _form(form: QualificationForm | None = None) -> QualificationForm:
    form = form or QualificationForm()
    types = services.active_types()
    form.type_id.choices = select_choices([("", "（请选择）")] + [(t.id, t.name) for t in types])
    _level_choices(form, types)
    return form


@bp.route("/qualification-levels")
@require(SIGNED_IN)
def show_qualification_levels():
    """The level field for the type chosen in a qualification form (htmx swaps it in)."""
    form = QualificationForm(formdata=None)
    form.type_id.data = arg_int("type_id")
    _level_choices(form, services.active_types())
    return render("credentials/qualifications/_level_field.html", form=form)


def _files() -> list[tuple[str, bytes]]:
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    if len(files) > MAX_FILES:
        raise ServiceError(f"一次最多上传 {MAX_FILES} 个附件。", field="attachments")
    return [(f.filename, f.read()) for f in files]


@bp.route("/people/<int:staff_id>/new", methods=["GET", "POST"])
@require(MANAGE_QUALIFICATIONS)
def register_qualification(staff_id: int):
    """Medical affairs enters a verified qualification for a person (valid at once)."""
    staff = queries.staff_in_scope(staff_id, current_user.principal, MANAGE_QUALIFICATIONS)
    if staff is None:
        abort(404)
    form = _form()
    if form.validate_on_submit():
        try:
            record = services.register_qualification(
                staff, form.values(), within=current_user.principal.departments_for(MANAGE_QUALIFICATIONS))
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已为{staff.name}登记{record.display_name}。", "success")
            return redirect(url_for("credentials.view_person", staff_id=staff.id), 303)
    status = 422 if request.method == "POST" else 200
    return render("credentials/qualifications/register_form.html", status=status, form=form, staff=staff,
                  types=services.active_types())


# --- the clinician -----------------------------------------------------------------------------------------

@bp.route("/my")
@require(APPLY_QUALIFICATION)
def my_qualifications():
    """The signed-in clinician's qualifications and applications, as cards (opened in WeCom on a phone)."""
    records = queries.my_records(current_user.staff_id)
    return render("credentials/qualifications/my_list.html", records=records, today=local_today(),
                  applications=[r for r in records if queries.is_application(r)],
                  held=[r for r in records if not queries.is_application(r)], has_staff=current_user.staff_id)


def _application_page(form: QualificationForm, status: int, record: Qualification | None = None):
    return render("credentials/qualifications/apply_form.html", status=status, form=form, record=record,
                  types=services.active_types(),
                  attachments=services.attachments_of(record) if record else [])


@bp.route("/my/apply", methods=["GET", "POST"])
@require(APPLY_QUALIFICATION)
def apply_qualification():
    """Apply for a qualification of one's own, with the certificate as attachments."""
    form = _form()
    if form.validate_on_submit():
        try:
            record = services.apply_qualification(current_user, form.values(), _files())
        except ServiceError as error:
            form.apply_error(error)
            return _application_page(form, error.status)
        flash("资质申请已提交，等待科主任审核。", "success")
        return redirect(url_for("credentials.view_qualification", record_id=record.id), 303)
    return _application_page(form, 422 if request.method == "POST" else 200)


@bp.route("/my/<int:record_id>/edit", methods=["GET", "POST"])
@require(APPLY_QUALIFICATION)
def edit_application(record_id: int):
    """Correct a returned application and submit it again."""
    record = get_or_404(Qualification, record_id)
    if record.staff_id != current_user.staff_id:
        abort(404)
    form = _form(QualificationForm(obj=record)) if request.method == "GET" else _form()
    if form.validate_on_submit():
        try:
            services.resubmit_application(record, current_user, form.values(), _files())
        except ServiceError as error:
            form.apply_error(error)
            return _application_page(form, error.status, record)
        flash("申请已重新提交。", "success")
        return redirect(url_for("credentials.view_qualification", record_id=record.id), 303)
    return _application_page(form, 422 if request.method == "POST" else 200, record)


# --- types -------------------------------------------------------------------------------------------------

@bp.route("/qualification-types")
@require(CONFIGURE_QUALIFICATIONS)
def list_qualification_types():
    """The qualification types medical affairs maintains."""
    return render("credentials/qualifications/type_list.html", types=services.all_types())


@bp.route("/qualification-types/new", methods=["GET", "POST"], defaults={"type_id": None})
@bp.route("/qualification-types/<int:type_id>", methods=["GET", "POST"])
@require(CONFIGURE_QUALIFICATIONS)
def edit_qualification_type(type_id: int | None):
    """Create or change a qualification type."""
    item = get_or_404(QualificationType, type_id) if type_id else None
    form = TypeForm(obj=item) if request.method == "GET" and item else TypeForm()
    form.category.choices = select_choices([("", "（请选择）"), *CATEGORIES.items()])
    if request.method == "GET" and item is None:
        form.expires.data = form.requires_attachment.data = form.is_active.data = True
    if form.validate_on_submit():
        try:
            saved = services.save_type(item, code=form.code.data, name=form.name.data, category=form.category.data,
                                       expires=form.expires.data, reminder_days=form.reminder_days.data or "",
                                       requires_attachment=form.requires_attachment.data, levels=form.levels.data,
                                       is_active=form.is_active.data, sort_order=form.sort_order.data or 0)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已保存资质类型“{saved.name}”。", "success")
            return redirect(url_for("credentials.list_qualification_types"), 303)
    status = 422 if request.method == "POST" else 200
    return render("credentials/qualifications/type_form.html", status=status, form=form, item=item)

