"""Adverse events and complaints (不良事件与投诉), and satisfaction surveys (满意度调查)."""

from __future__ import annotations

from flask import abort, current_app, flash, request, url_for

from portal.core.listing import arg_choice, arg_int, arg_month, paginate
from portal.core.months import parse_month
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render, wants_partial
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.io.export import Column, export_query

from .. import EVENTS, LEDGER, bp
from ..ledger import services as ledger
from ..models import EVENT_KINDS, EVENT_STATES, SEVERITIES
from ..patients.services import find_by_ref
from ..scoping import get_task_or_404, may_see_patient, me, sees_all
from . import services as feedback
from .forms import CloseForm, EventForm, HandlingForm, SurveyForm

SEVERITY_BADGES = {"mild": "neutral", "moderate": "warn", "severe": "bad", "critical": "bad"}
STATE_BADGES = {"open": "wait", "handling": "warn", "closed": "ok"}
HISTORY_ACTIONS = {"create": "登记", "update": "更新处理情况", "close": "关闭"}
NOT_FOUND_PATIENT = "未找到该患者，或该患者不在您的服务范围内。请核对住院号或证件号码。"


def _patient_for(ref: str | None, user):
    patient = find_by_ref(ref or "")
    if patient is None or not may_see_patient(patient, user):
        raise ServiceError(NOT_FOUND_PATIENT, field="patient_ref")
    return patient


def _conflict(error: ServiceError):
    """A refused change of a closed event: the Chinese message, in place for htmx, nothing changed."""
    abort(error.status, error.message)


# --- adverse events and complaints -------------------------------------------------------------------------


def _event_filters() -> tuple[feedback.EventFilters, dict]:
    month = arg_month()
    filters = feedback.EventFilters(kind=arg_choice("kind", EVENT_KINDS), severity=arg_choice("severity", SEVERITIES),
                                    status=arg_choice("status", EVENT_STATES), month=month)
    args = {"kind": filters.kind, "severity": filters.severity, "status": filters.status,
            "month": f"{month:%Y-%m}" if month else ""}
    return filters, args


@bp.route("/events")
@require(EVENTS)
def list_events():
    """Adverse events and complaints: those of one's patients and one's own registrations, or all."""
    filters, args = _event_filters()
    page = paginate(feedback.event_query(me(), filters), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("casemgmt/feedback/event_list.html",
                  "casemgmt/feedback/_event_rows.html", page=page, args=args, filters=filters,
                  kinds=EVENT_KINDS, severities=SEVERITIES, states=EVENT_STATES, severity_badges=SEVERITY_BADGES,
                  state_badges=STATE_BADGES)


@bp.route("/events/export")
@require(EVENTS)
def export_events():
    """The events list exactly as filtered and scoped, names masked, as .xlsx."""
    filters, args = _event_filters()
    columns = [
        Column("类别", lambda e: e.kind_label, 10),
        Column("发生日期", lambda e: e.occurred_on, 12),
        Column("患者", lambda e: e.patient.masked_name if e.patient else "", 10),
        Column("严重程度", lambda e: e.severity_label, 10),
        Column("状态", lambda e: e.status_label, 10),
        Column("事件经过", lambda e: e.description, 40),
        Column("处理经过与结果", lambda e: e.handling, 40),
        Column("负责个案管理师", lambda e: e.case_manager.display_name if e.case_manager else "", 14),
        Column("登记时间", lambda e: e.created_at, 18),
        Column("关闭时间", lambda e: e.closed_at, 18),
    ]
    return export_query(feedback.event_query(me(), filters), columns, "不良事件与投诉", args, "adverse_event")


@bp.route("/events/new", methods=["GET", "POST"])
@require(EVENTS)
def new_event():
    """Register an adverse event or a complaint; severe and critical ones reach the supervisors at once."""
    form = EventForm()
    if request.method == "GET":
        form.occurred_on.data = local_today()
    if form.validate_on_submit():
        user = me()
        try:
            patient = _patient_for(form.patient_ref.data, user) if (form.patient_ref.data or "").strip() else None
            event = feedback.register_event(user, kind=form.kind.data, severity=form.severity.data,
                                            occurred_on=form.occurred_on.data, description=form.description.data,
                                            patient=patient)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已登记{event.kind_label}（{event.severity_label}）。", "success")
            return htmx_redirect(url_for("casemgmt.view_event", event_id=event.id))
    status = 422 if request.method == "POST" else 200
    return render("casemgmt/feedback/event_form.html", "casemgmt/feedback/_event_form.html", status=status, form=form)


def _detail(event, handling_form=None, close_form=None, status: int = 200):
    if handling_form is None:
        handling_form = HandlingForm(formdata=None, data={"handling": event.handling,
                                                          "status": "handling" if event.status == "open"
                                                          else event.status})
    close_form = close_form or CloseForm(formdata=None, data={"handling": event.handling})
    return render("casemgmt/feedback/event_detail.html",
                  "casemgmt/feedback/_event_body.html", status=status, event=event,
                  handling_form=handling_form, close_form=close_form, history=feedback.event_history(event),
                  history_actions=HISTORY_ACTIONS, states=EVENT_STATES, severity_badges=SEVERITY_BADGES,
                  state_badges=STATE_BADGES)


@bp.route("/events/<int:event_id>")
@require(EVENTS)
def view_event(event_id: int):
    """One event: the facts, its handling, the trail, and (until closed) the handling and close forms."""
    return _detail(feedback.get_event_or_404(event_id, me()))


def _after_change(event, message: str):
    if wants_partial():
        return _detail(event)
    flash(message, "success")
    return htmx_redirect(url_for("casemgmt.view_event", event_id=event.id))


@bp.route("/events/<int:event_id>/update", methods=["POST"])
@require(EVENTS)
def update_event(event_id: int):
    """Record the handling so far and move the event to 处理中."""
    event = feedback.get_event_or_404(event_id, me())
    if event.status == "closed":
        abort(409, "该事件已关闭，不能再修改。")
    form = HandlingForm()
    if form.validate_on_submit():
        try:
            feedback.update_event_handling(event, form.handling.data, form.status.data)
        except ServiceError as error:
            if error.status == 409:
                _conflict(error)
            form.apply_error(error)
        else:
            return _after_change(event, "已保存处理情况。")
    return _detail(event, handling_form=form, status=422)


@bp.route("/events/<int:event_id>/close", methods=["POST"])
@require(EVENTS)
def close_event(event_id: int):
    """Close the event with its handling written down; it is read-only afterwards."""
    event = feedback.get_event_or_404(event_id, me())
    if event.status == "closed":
        abort(409, "该事件已关闭，不能再修改。")
    form = CloseForm()
    if form.validate_on_submit():
        try:
            feedback.close_event(event, form.handling.data)
        except ServiceError as error:
            if error.status == 409:
                _conflict(error)
            form.apply_error(error)
        else:
            return _after_change(event, f"已关闭该{event.kind_label}。")
    return _detail(event, close_form=form, status=422)


# --- satisfaction surveys ---------------------------------------------------------------------------------


def _survey_filters() -> tuple[feedback.SurveyFilters, dict]:
    month = arg_month()
    filters = feedback.SurveyFilters(month=month, case_manager_id=arg_int("case_manager_id"),
                                     kind=arg_choice("kind", feedback.SURVEY_KINDS))
    args = {"month": f"{month:%Y-%m}" if month else "", "case_manager_id": filters.case_manager_id or "",
            "kind": filters.kind}
    return filters, args


@bp.route("/surveys")
@require(LEDGER)
def list_surveys():
    """Satisfaction surveys of the patients one may see, with the mean scores of what is shown."""
    filters, args = _survey_filters()
    user = me()
    stmt = feedback.survey_query(user, filters)
    page = paginate(stmt, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    all_rows = sees_all(user)
    return render("casemgmt/feedback/survey_list.html",
                  "casemgmt/feedback/_survey_rows.html", page=page, args=args, filters=filters,
                  details=feedback.survey_details([s.id for s in page.items]), summary=feedback.survey_summary(stmt),
                  kinds=feedback.SURVEY_KINDS, sees_all=all_rows,
                  managers=ledger.case_manager_choices() if all_rows else [])


@bp.route("/surveys/export")
@require(LEDGER)
def export_surveys():
    """The surveys exactly as filtered and scoped, names masked, as .xlsx."""
    filters, args = _survey_filters()
    stmt = feedback.survey_query(me(), filters)
    details = feedback.survey_details(feedback.survey_ids(stmt))

    def detail(key):
        return lambda s: details.get(s.id, {}).get(key, "")

    columns = [
        Column("调查月份", lambda s: f"{s.survey_month:%Y-%m}", 10),
        Column("患者", lambda s: s.patient.masked_name, 10),
        Column("类型", lambda s: feedback.SURVEY_KINDS["task" if s.task_id else "month"], 14),
        Column("评价的服务", detail("service"), 24),
        Column("服务及时性", lambda s: s.timeliness, 10),
        Column("服务有效性", lambda s: s.effectiveness, 10),
        Column("服务态度", lambda s: s.attitude, 10),
        Column("平均分", lambda s: round(s.mean, 2), 8, "0.00"),
        Column("个案管理师", detail("manager"), 12),
        Column("意见与建议", lambda s: s.comment, 30),
        Column("录入时间", lambda s: s.created_at, 18),
    ]
    return export_query(stmt, columns, "满意度调查", args, "satisfaction_survey")


@bp.route("/surveys/new", methods=["GET", "POST"])
@require(LEDGER)
def new_survey():
    """Record a survey: of one completed service (?task_id=) or of a patient's month."""
    user = me()
    task_id = arg_int("task_id")
    task = get_task_or_404(task_id, user) if task_id else None
    if task is not None and task.status != "done":
        abort(422, "只能评价已完成的服务。")
    form = SurveyForm()
    if task is None:  # a patient-month survey needs both; marked so on the form
        form.patient_ref.flags.required = form.survey_month.flags.required = True
    if request.method == "GET":
        form.survey_month.data = f"{local_today():%Y-%m}"
    if form.validate_on_submit():
        try:
            if task is not None:
                patient, month = task.patient, None
            else:
                if not (form.patient_ref.data or "").strip():
                    raise ServiceError("请填写患者住院号或证件号码。", field="patient_ref")
                patient = _patient_for(form.patient_ref.data, user)
                month = parse_month(form.survey_month.data, "survey_month")
            survey = feedback.record_survey(patient, task=task, survey_month=month, timeliness=form.timeliness.data,
                                            effectiveness=form.effectiveness.data, attitude=form.attitude.data,
                                            comment=form.comment.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已录入 {patient.masked_name} {survey.survey_month:%Y年%m月}的满意度调查。", "success")
            return htmx_redirect(url_for("casemgmt.list_surveys"))
    status = 422 if request.method == "POST" else 200
    return render("casemgmt/feedback/survey_form.html",
                  "casemgmt/feedback/_survey_form.html", status=status, form=form, task=task,
                  scores=feedback.SCORES)
