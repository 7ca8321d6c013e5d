"""Patients: the list, registration and enrolment, the patient view, handover notes, caseloads and ward coverage."""

from __future__ import annotations

from flask import abort, current_app, flash, request, url_for
from flask_login import current_user

from portal.core.forms import PortalForm, select_choices
from portal.core.listing import arg_choice, arg_int, arg_str, paginate, parse_sort
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render, wants_partial
from portal.core.scoping import MAX_ID, get_or_404
from portal.core.service import Conflict, ServiceError
from portal.core.timeutil import local_today
from portal.io.export import Column, export_query, export_rows

from .. import ASSIGN, ENROL, KPI, REVEAL, VIEW_PATIENTS, bp
from ..models import Enrolment
from ..scoping import get_patient_or_404, may_see_patient, sees_all
from . import queries as patient_queries
from . import services as patients
from .forms import CloseForm, CoverageForm, EditEnrolmentForm, EditPatientForm, EnrolmentForm, NoteForm, PatientForm

SERVICES_PER_PAGE = 10


def _manager_label(user) -> str:
    return f"{user.staff.employee_no} {user.display_name}" if user.staff else user.display_name


def _fill_enrolment_choices(form: EnrolmentForm, enrolment: Enrolment | None = None) -> None:
    keep_ward = (enrolment.ward_id,) if enrolment and enrolment.ward_id else ()
    keep_manager = (enrolment.case_manager_id,) if enrolment and enrolment.case_manager_id else ()
    form.ward_id.choices = select_choices([("", "（未指定）")] + [
        (w.id, w.name) for w in patient_queries.wards(keep_ward)])
    form.case_manager_id.choices = select_choices([("", "（未指定）")] + [
        (u.id, _manager_label(u)) for u in patient_queries.case_managers(keep_manager)])


def _all_valid(*results: bool) -> bool:
    """Every form validated first (so each shows its errors), then combined."""
    return all(results)


def _apply(error: ServiceError, *forms: PortalForm) -> None:
    """Attach a service's refusal to the form that has the field (else to the first form)."""
    for form in forms:
        if error.field and getattr(form, error.field, None) is not None:
            form.apply_error(error)
            return
    forms[0].apply_error(error)


# --- list and export -------------------------------------------------------------------------------------------

def _filters():
    filters = patient_queries.PatientFilters(
        q=arg_str("q", 50), status=arg_choice("status", patient_queries.PATIENT_STATES),
        case_manager_id=arg_int("case_manager_id", maximum=MAX_ID), ward_id=arg_int("ward_id", maximum=MAX_ID))
    sort = parse_sort(patient_queries.PATIENT_SORTS, "-created")
    args = {"q": filters.q, "status": filters.status, "case_manager_id": filters.case_manager_id or "",
            "ward_id": filters.ward_id or "", "sort": sort.param}
    return filters, sort, args


def _searched(filters) -> str | None:
    """Apply the reveal rule to the search box: 403 for a full ID number or phone the user may not see; for
    one they may, the patients found are audited. Returns the query as it may be written down."""
    if not filters.q:
        return None
    try:
        term = patient_queries.search_term(filters.q, current_user)
    except ServiceError as error:
        abort(error.status, error.message)
    term = patients.reveal_by_search(term, current_user)
    return term.shown if term.kind else None


@bp.route("/patients")
@require(VIEW_PATIENTS)
def list_patients():
    """Patients in the user's care (all of them for the supervisor), with search and filters."""
    filters, sort, args = _filters()
    revealed = _searched(filters)
    keys, rows = patient_queries.patient_rows_query(filters, current_user, sort.key, sort.descending)
    # A case manager's list is filtered by visibility (a costly subquery): evaluated once, for page and total.
    page = paginate(keys, arg_int("page", 1), current_app.config["PAGE_SIZE"], scalars=False,
                    total_in_page=not sees_all(current_user), rows=rows)
    page.items = [patient_queries.PatientRow(row) for row in page.items]
    # The filter's choices are only on the full page, not in the rows an htmx filter swaps.
    choices = {} if wants_partial() else {"managers": patient_queries.manager_choices(),
                                          "wards": patient_queries.ward_choices()}
    return render("casemgmt/patients/patient_list.html",
                  "casemgmt/patients/_patient_rows.html", page=page, filters=filters,
                  sort=sort, args=args, states=patient_queries.PATIENT_STATES, revealed_search=revealed, **choices)


def _enrolment_of(patient, attr: str):
    enrolment = patient.active_enrolment
    return getattr(enrolment, attr) if enrolment is not None else None


@bp.route("/patients/export")
@require(VIEW_PATIENTS)
def export_patients():
    """The patient list exactly as filtered, as .xlsx; names, ID and phone numbers masked (the search too)."""
    filters, sort, args = _filters()
    revealed = _searched(filters)
    if revealed:
        args = {**args, "q": revealed}  # the title line and the audit record never carry the full number

    def enrolled(attr):
        return lambda p: _enrolment_of(p, attr)

    columns = [
        Column("姓名", lambda p: p.masked_name, 10),
        Column("证件类型", lambda p: p.id_type_label, 12),
        Column("证件号码", lambda p: p.id_number_masked, 22),
        Column("电话", lambda p: p.phone_masked, 14),
        Column("住院号", lambda p: p.hospital_no or "", 12),
        Column("性别", lambda p: p.gender_label, 6),
        Column("状态", lambda p: "管理中" if p.active_enrolment else ("已结案" if p.enrolments else "未入组"), 8),
        Column("ICD-10", enrolled("icd10_code"), 10),
        Column("疾病名称", enrolled("disease_name"), 20),
        Column("服务包", enrolled("package_label"), 20),
        Column("病区", lambda p: p.active_enrolment.ward.name if p.active_enrolment and p.active_enrolment.ward
               else "", 14),
        Column("床号", enrolled("bed"), 8),
        Column("个案管理师", lambda p: p.active_enrolment.case_manager.display_name
               if p.active_enrolment and p.active_enrolment.case_manager else "", 12),
        Column("入组日期", enrolled("start_date"), 12),
        Column("入院日期", enrolled("admission_date"), 12),
        Column("手术日期", enrolled("surgery_date"), 12),
        Column("出院日期", enrolled("discharge_date"), 12),
    ]
    stmt = patient_queries.patients_query(filters, current_user, sort.key, sort.descending)
    return export_query(stmt, columns, "患者名单", args, "patient")


# --- registration ----------------------------------------------------------------------------------------------

def _patient_values(form: PatientForm) -> dict:
    return {"name": form.name.data, "id_type": form.id_type.data, "id_number": form.id_number.data,
            "phone": form.phone.data, "hospital_no": form.hospital_no.data, "gender": form.gender.data,
            "birth_date": form.birth_date.data, "notes": form.notes.data}


@bp.route("/patients/new", methods=["GET", "POST"])
@require(ENROL)
def new_patient():
    """Register a patient (real-name triple) and, usually, enrol them at once."""
    form = PatientForm()
    enrol_form = EnrolmentForm(prefix="enrol", meta={"csrf": False})
    _fill_enrolment_choices(enrol_form)
    enrol_now = request.method == "GET" or request.form.get("enrol_now") == "1"
    existing = None
    if request.method == "GET":
        enrol_form.start_date.data = local_today()
        if patients.is_case_manager(current_user.id):
            enrol_form.case_manager_id.data = current_user.id
    elif _all_valid(form.validate_on_submit(), enrol_form.validate() if enrol_now else True):
        try:
            patient = patients.create_patient(**_patient_values(form))
            if enrol_now:
                patients.enrol(patient, **enrol_form.values())
        except ServiceError as error:
            _apply(error, form, enrol_form)
            if isinstance(error, Conflict):
                found = patients.find_by_identity(form.name.data, form.id_type.data, form.id_number.data)
                existing = found if found is not None and may_see_patient(found, current_user) else None
        else:
            flash(f"已为患者{patient.masked_name}建档{'并入组' if enrol_now else ''}。", "success")
            return htmx_redirect(url_for("casemgmt.view_patient", patient_id=patient.id))
    status = 422 if request.method == "POST" else 200
    return render("casemgmt/patients/patient_form.html",
                  "casemgmt/patients/_patient_form.html", status=status, form=form,
                  enrol_form=enrol_form, enrol_now=enrol_now, patient=None, existing=existing)


@bp.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@require(ENROL)
def edit_patient(patient_id: int):
    """Correct a patient's details; a new ID or phone number replaces the stored one."""
    patient = get_patient_or_404(patient_id, current_user)
    if request.method == "GET":
        form = EditPatientForm(formdata=None, obj=patient)
        form.name.data = form.id_number.data = form.phone.data = ""
        return render("casemgmt/patients/patient_form.html",
                      "casemgmt/patients/_patient_form.html", form=form, patient=patient)
    form = EditPatientForm()
    if form.validate_on_submit():
        values = _patient_values(form)
        for key in ("name", "id_number"):
            if not (values[key] or "").strip():
                values.pop(key)
        if form.clear_phone.data:
            values["phone"] = ""
        elif not (values["phone"] or "").strip():
            values.pop("phone")
        try:
            patients.update_patient(patient, **values)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("已保存患者信息。", "success")
            return htmx_redirect(url_for("casemgmt.view_patient", patient_id=patient.id))
    return render("casemgmt/patients/patient_form.html", "casemgmt/patients/_patient_form.html", status=422, form=form,
                  patient=patient)


# --- the patient view ------------------------------------------------------------------------------------------

def _note_form(form: NoteForm | None = None) -> NoteForm:
    form = form or NoteForm(formdata=None)
    form.to_user_id.choices = select_choices([("", "（不指定，仅记录）")] + [
        (u.id, _manager_label(u)) for u in patient_queries.case_managers() if u.id != current_user.id])
    return form


def _services_page(patient):
    return paginate(patient_queries.services_query(patient.id), arg_int("services_page", 1), SERVICES_PER_PAGE)


def _detail_context(patient, *, note_form: NoteForm | None = None, close_form: CloseForm | None = None,
                    revealed: dict | None = None) -> dict:
    today = local_today()
    enrolment = patient.active_enrolment or (patient.enrolments[0] if patient.enrolments else None)
    progress = patient_queries.pathway_progress(enrolment, today) if enrolment is not None else []
    due = [row for row in progress if row.due is not None and row.due <= today]
    needs, need_notes = patient_queries.special_needs(patient.id, today)
    if close_form is None:
        close_form = CloseForm(formdata=None)
        close_form.closed_on.data = today
    return {"patient": patient, "enrolment": enrolment, "progress": progress, "today": today,
            "progress_done": sum(1 for row in due if row.task is not None and row.task.status in ("done", "declined")),
            "progress_due": len(due), "services": _services_page(patient), "needs": needs, "need_notes": need_notes,
            "notes": patient_queries.handover_notes(patient.id), "note_form": _note_form(note_form),
            "close_form": close_form, "revealed": revealed or {}}


@bp.route("/patients/<int:patient_id>")
@require(VIEW_PATIENTS)
def view_patient(patient_id: int):
    """One patient: enrolment, pathway progress, past services, special needs and handover notes."""
    patient = get_patient_or_404(patient_id, current_user)
    if wants_partial() and request.headers.get("HX-Target") == "patient-services":
        return render("casemgmt/patients/_patient_services.html", patient=patient, services=_services_page(patient))
    return render("casemgmt/patients/patient_detail.html", **_detail_context(patient))


@bp.route("/patients/<int:patient_id>/reveal", methods=["POST"])
@require(REVEAL)
def reveal_patient(patient_id: int):
    """Show the full ID or phone number to a user allowed to see it; each time is audited."""
    patient = get_patient_or_404(patient_id, current_user)
    field = request.form.get("field", "")
    if field not in ("id_number", "phone"):
        abort(400, "只能查看证件号码或电话。")
    value = patients.reveal(patient, field)
    if wants_partial():
        return render("casemgmt/patients/_patient_reveal.html",
                      patient=patient, field=field, value=value, revealed=True)
    return render("casemgmt/patients/patient_detail.html", **_detail_context(patient, revealed={field: value}))


@bp.route("/patients/<int:patient_id>/notes", methods=["POST"])
@require(VIEW_PATIENTS)
def add_handover_note(patient_id: int):
    """Add a note on the patient, optionally handed over to another case manager (who is notified)."""
    patient = get_patient_or_404(patient_id, current_user)
    form = _note_form(NoteForm())
    if form.validate_on_submit():
        try:
            patients.add_handover_note(patient, body=form.body.data, to_user_id=form.to_user_id.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            if not wants_partial():
                flash("已添加交接记录。", "success")
                return htmx_redirect(url_for("casemgmt.view_patient", patient_id=patient.id) + "#notes")
            return render("casemgmt/patients/_patient_notes.html", patient=patient,
                          notes=patient_queries.handover_notes(patient.id), note_form=_note_form(), saved=True)
    if wants_partial():
        return render("casemgmt/patients/_patient_notes.html", status=422, patient=patient,
                      notes=patient_queries.handover_notes(patient.id), note_form=form)
    return render("casemgmt/patients/patient_detail.html", status=422, **_detail_context(patient, note_form=form))


# --- enrolment -------------------------------------------------------------------------------------------------

def _enrolment_or_404(enrolment_id: int) -> Enrolment:
    enrolment = get_or_404(Enrolment, enrolment_id)
    get_patient_or_404(enrolment.patient_id, current_user)
    return enrolment


@bp.route("/patients/<int:patient_id>/enrol", methods=["GET", "POST"])
@require(ENROL)
def enrol_patient(patient_id: int):
    """Put a registered patient under management: disease, package, ward, case manager and key dates."""
    patient = get_patient_or_404(patient_id, current_user)
    form = EnrolmentForm(formdata=None) if request.method == "GET" else EnrolmentForm()
    _fill_enrolment_choices(form)
    if request.method == "GET":
        form.start_date.data = local_today()
        if patients.is_case_manager(current_user.id):
            form.case_manager_id.data = current_user.id
    elif form.validate_on_submit():
        try:
            patients.enrol(patient, **form.values())
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"患者{patient.masked_name}已入组。", "success")
            return htmx_redirect(url_for("casemgmt.view_patient", patient_id=patient.id))
    status = 422 if request.method == "POST" else 200
    return render("casemgmt/patients/patient_enrolment.html",
                  "casemgmt/patients/_patient_enrolment_form.html", status=status,
                  form=form, patient=patient, enrolment=None)


@bp.route("/enrolments/<int:enrolment_id>/edit", methods=["GET", "POST"])
@require(ENROL)
def edit_enrolment(enrolment_id: int):
    """Correct an active enrolment: key dates, ward and bed, case manager, package."""
    enrolment = _enrolment_or_404(enrolment_id)
    if enrolment.status != "active":
        abort(409, "已结案的入组不能修改。")
    if request.method == "GET":
        form = EditEnrolmentForm(formdata=None, obj=enrolment)
        _fill_enrolment_choices(form, enrolment)
        status = 200
    else:
        form = EditEnrolmentForm()
        _fill_enrolment_choices(form, enrolment)
        if form.validate_on_submit():
            try:
                patients.update_enrolment(enrolment, **form.values())
            except ServiceError as error:
                form.apply_error(error)
            else:
                flash("已保存入组信息。", "success")
                return htmx_redirect(url_for("casemgmt.view_patient", patient_id=enrolment.patient_id))
        status = 422
    return render("casemgmt/patients/patient_enrolment.html",
                  "casemgmt/patients/_patient_enrolment_form.html", status=status,
                  form=form, patient=enrolment.patient, enrolment=enrolment)


@bp.route("/enrolments/<int:enrolment_id>/close", methods=["POST"])
@require(ENROL)
def close_enrolment(enrolment_id: int):
    """End management; the enrolment's open tasks are cancelled."""
    enrolment = _enrolment_or_404(enrolment_id)
    form = CloseForm()
    if form.validate_on_submit():
        try:
            patients.close_enrolment(enrolment, closed_on=form.closed_on.data, reason=form.close_reason.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已结案：{enrolment.disease_name}。未完成的任务已取消。", "success")
            return htmx_redirect(url_for("casemgmt.view_patient", patient_id=enrolment.patient_id))
    return render("casemgmt/patients/patient_detail.html",
                  status=422, **_detail_context(enrolment.patient, close_form=form))


# --- caseloads and ward coverage -------------------------------------------------------------------------------

@bp.route("/caseloads")
@require(KPI)
def list_caseloads():
    """Each case manager's active caseload against the staffing norm (1:500), with a warning above it."""
    norm = int(current_app.config["CASELOAD_NORM"])
    rows = patient_queries.caseload_rows(norm)
    total = sum(r.active for r in rows)
    unassigned = patient_queries.unassigned_active()
    needed = -(-(total + unassigned) // norm) if norm else 0
    return render("casemgmt/patients/caseload_list.html", rows=rows, norm=norm, total=total, unassigned=unassigned,
                  needed=needed, over=sum(1 for r in rows if r.state == "bad"))


@bp.route("/caseloads/export")
@require(KPI)
def export_caseloads():
    """The caseload table as .xlsx (for staffing reviews against the norm)."""
    norm = int(current_app.config["CASELOAD_NORM"])
    columns = [Column("个案管理师", lambda r: r.user.display_name, 14),
               Column("覆盖病区", lambda r: "、".join(r.wards), 30),
               Column("在管患者", lambda r: r.active, 10),
               Column("配比标准", lambda r: r.norm, 10),
               Column("负荷", lambda r: round(r.ratio, 3), 10, number_format="0.0%"),
               Column("状态", lambda r: r.state_label, 10)]
    return export_rows(patient_queries.caseload_rows(norm), columns, "个案负荷", {"配比": f"1:{norm}"}, "enrolment")


def _coverage_form(form: CoverageForm | None = None) -> CoverageForm:
    form = form or CoverageForm(formdata=None)
    form.ward_id.choices = select_choices([("", "（请选择病区）")] + [(w.id, w.name) for w in patient_queries.wards()])
    form.case_manager_id.choices = select_choices([("", "（请选择个案管理师）")] + [
        (u.id, _manager_label(u)) for u in patient_queries.case_managers()])
    return form


def _coverage(form: CoverageForm | None = None, status: int = 200, error: str | None = None):
    return render("casemgmt/patients/coverage_list.html", "casemgmt/patients/_coverage_rows.html", status=status,
                  wards=patient_queries.coverage_by_ward(), form=_coverage_form(form), error=error)


@bp.route("/ward-coverage")
@require(ASSIGN)
def list_ward_coverage():
    """Which case managers cover which ward (patients without a case manager go to them)."""
    return _coverage()


@bp.route("/ward-coverage/add", methods=["POST"])
@require(ASSIGN)
def add_ward_coverage():
    """A case manager starts covering a ward."""
    form = _coverage_form(CoverageForm())
    if form.validate_on_submit():
        try:
            changed = patients.set_ward_coverage(form.ward_id.data, form.case_manager_id.data, True)
        except ServiceError as error:
            form.apply_error(error)
        else:
            if not wants_partial():
                flash("已添加病区覆盖。" if changed else "该个案管理师已覆盖此病区。", "success")
                return htmx_redirect(url_for("casemgmt.list_ward_coverage"))
            return _coverage()
    return _coverage(form, 422)


@bp.route("/ward-coverage/<int:ward_id>/<int:user_id>/remove", methods=["POST"])
@require(ASSIGN)
def remove_ward_coverage(ward_id: int, user_id: int):
    """A case manager stops covering a ward."""
    try:
        patients.set_ward_coverage(ward_id, user_id, False)
    except ServiceError as error:
        return _coverage(status=error.status, error=error.message)
    if not wants_partial():
        flash("已移除病区覆盖。", "success")
        return htmx_redirect(url_for("casemgmt.list_ward_coverage"))
    return _coverage()
