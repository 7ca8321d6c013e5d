"""New technologies: the list (what is due), the application, the project page, reports and the decision."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth.queries import department_choices
from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today

from .. import MANAGE, NEWTECH, bp
from ..models import NewTechProject, NewTechReport
from ..models.newtech import PROJECT_STATES
from . import services
from .forms import ApplicationForm, DecisionForm, ReportForm

MAX_FILES = 5
DUE_FILTERS = {"due": "30 天内应交", "overdue": "报告已超期"}


def _uploads() -> list[tuple[str, bytes]]:
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    if len(files) > MAX_FILES:
        raise ServiceError(f"一次最多上传 {MAX_FILES} 个附件。", field="attachments")
    return [(f.filename, f.read()) for f in files]


@bp.route("/newtech")
@require(NEWTECH)
def list_newtech():
    """Projects the user may see: applications, those in trial with the next report due, closed ones."""
    today = local_today()
    status = arg_choice("status", PROJECT_STATES)
    due = arg_choice("due", DUE_FILTERS)
    args = {"status": status, "due": due}
    page = paginate(services.list_query(current_user, status, due, today), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"])
    return render("catalogue/newtech/project_list.html", "catalogue/newtech/_project_rows.html", page=page,
                  args=args, states=PROJECT_STATES, status_filter=status, due_filters=DUE_FILTERS, due=due,
                  today=today)


def _application_form(form: ApplicationForm | None = None) -> ApplicationForm:
    form = form or ApplicationForm()
    form.department_id.choices = select_choices(department_choices(current_user.principal, NEWTECH,
                                                                   blank="（请选择）", active_only=True))
    return form


def _fields(form: ApplicationForm) -> dict:
    return {"name": form.name.data, "code": form.code.data, "category": form.category.data,
            "grade": form.grade.data, "department_id": form.department_id.data,
            "lead_employee_no": form.lead_employee_no.data, "description": form.description.data,
            "risk_assessment": form.risk_assessment.data, "trial_months": form.trial_months.data}


@bp.route("/newtech/new", methods=["GET", "POST"])
@require(NEWTECH)
def new_newtech():
    """Apply for a new technology: it goes through the department head, medical affairs and both committees."""
    form = _application_form()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                project = services.apply(current_user, files=_uploads(),
                                         within=current_user.principal.departments_for(NEWTECH), **_fields(form))
            except ServiceError as error:
                form.apply_error(error)
                status = error.status
            else:
                flash("申请已提交，等待科主任审核。", "success")
                return redirect(url_for("catalogue.view_newtech", project_id=project.id), 303)
    return render("catalogue/newtech/project_form.html", status=status, form=form, project=None)


def _project(project_id: int) -> NewTechProject:
    project = get_or_404(NewTechProject, project_id)
    if not services.can_view(project, current_user):
        abort(404)
    return project


def _detail(project: NewTechProject, status: int = 200, report_forms=None, decision_form=None, form=None):
    own = services.is_own(project, current_user)
    can_decide = (project.status == "trial" and current_user.principal.can_act_on(MANAGE, project.department_id))
    if form is None and own and project.status == "returned":
        form = _application_form(ApplicationForm(formdata=None, obj=project,
                                                 lead_employee_no=project.lead.employee_no))
    return render("catalogue/newtech/project_detail.html", status=status, project=project, own=own,
                  today=local_today(), report_forms=report_forms or {}, can_decide=can_decide,
                  decision_form=decision_form or DecisionForm(formdata=None), form=form,
                  blank_report=ReportForm(formdata=None))


@bp.route("/newtech/<int:project_id>")
@require(NEWTECH)
def view_newtech(project_id: int):
    """One project: the application, its approval, the trial's reports and the closing decision."""
    return _detail(_project(project_id))


@bp.route("/newtech/<int:project_id>/resubmit", methods=["POST"])
@require(NEWTECH)
def resubmit_newtech(project_id: int):
    """The applicant corrects a returned application and submits it again."""
    project = _project(project_id)
    if project.applicant_id != current_user.id:
        abort(403, "只有申请人可以修改并重新提交。")
    form = _application_form()
    if form.validate_on_submit():
        try:
            services.resubmit(project, current_user, files=_uploads(),
                              within=current_user.principal.departments_for(NEWTECH), **_fields(form))
        except ServiceError as error:
            form.apply_error(error)
            return _detail(project, error.status, form=form)
        flash("已重新提交，等待科主任审核。", "success")
        return redirect(url_for("catalogue.view_newtech", project_id=project.id), 303)
    return _detail(project, 422, form=form)


@bp.route("/newtech/reports/<int:report_id>", methods=["POST"])
@require(NEWTECH)
def submit_newtech_report(report_id: int):
    """The lead submits a progress report (text and attachments) for medical affairs to review."""
    report = get_or_404(NewTechReport, report_id)
    project = _project(report.project_id)
    form = ReportForm()
    if form.validate_on_submit():
        try:
            services.submit_report(report, current_user, form.content.data, _uploads())
        except ServiceError as error:
            form.apply_error(error)
            return _detail(project, error.status, report_forms={report.id: form})
        flash(f"{report.title}已提交，等待医务科审核。", "success")
        return redirect(url_for("catalogue.view_newtech", project_id=project.id), 303)
    return _detail(project, 422, report_forms={report.id: form})


@bp.route("/newtech/<int:project_id>/decision", methods=["POST"])
@require(MANAGE)
def decide_newtech(project_id: int):
    """Medical affairs closes the trial: 转常规 or 终止, with the reason."""
    project = _project(project_id)
    if not current_user.principal.can_act_on(MANAGE, project.department_id):
        abort(403)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            services.close_trial(project, current_user, form.decision.data, form.reason.data)
        except ServiceError as error:
            form.apply_error(error)
            return _detail(project, error.status, decision_form=form)
        flash(f"已作结论：{project.status_label}。", "success")
        return redirect(url_for("catalogue.view_newtech", project_id=project.id), 303)
    return _detail(project, 422, decision_form=form)
