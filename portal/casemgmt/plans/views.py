"""The next-day plan pages: plans by date, one date's items (add, edit, cancel), and unknown patients."""

from __future__ import annotations

import re
from datetime import date, datetime

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.core import masking
from portal.core.forms import PortalForm, select_choices
from portal.core.listing import Page, arg_choice, arg_date, arg_int, arg_str, bad_request, paginate
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render, wants_partial
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError, clean
from portal.core.timeutil import LOCAL_TZ
from portal.io.export import Column, export_query

from .. import PLAN, bp
from ..models import PLAN_SOURCES, TASK_STATES, TIME_SLOTS, PlanItem
from ..patients.services import find_by_ref
from . import clock, matching, parsing, queries, services, validation
from .forms import PlanItemEditForm, PlanItemForm

NEW_PATIENT_URL = "/casemgmt/patients/new"


def _form(cls, **kwargs):
    form = cls(**kwargs)
    form.ward_id.choices = select_choices([("", "（不指定）"), *queries.ward_choices()])
    return form


def _values(form: PlanItemEditForm) -> dict:
    values = {name: getattr(form, name).data for name in ("patient_name", "task_type", "service_item", "ward_id",
                                                           "bed", "time_slot", "special_needs", "special_note",
                                                           "note")}
    if isinstance(form, PlanItemForm):
        values["patient"] = form.patient.data
    return values


def _apply(form: PortalForm, error: ServiceError) -> None:
    """A refused submission: each problem under its field (or above the form)."""
    problems = error.problems if isinstance(error, validation.PlanError) else [
        validation.Problem(None, "", error.field, error.message)]
    for problem in problems:
        name = problem.field if problem.field != "external_id" else None
        form.apply_error(ServiceError(problem.message, field=name))


def _day(raw: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw or ""):
        raise bad_request(f"日期“{(raw or '')[:20]}”格式不正确，应为 2026-11-23")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"日期“{raw}”不存在") from None


def _item_or_404(item_id: int) -> PlanItem:
    return get_or_404(PlanItem, item_id)


def cutoff_state(plan_date: date, now: datetime | None = None) -> dict:
    """What the banner says about a date's cutoff: still open (and how long), late, or closed."""
    now = clock.as_utc(now)
    first, last = clock.date_window(now)
    cutoff = clock.cutoff_for(plan_date)
    local_cutoff = cutoff.astimezone(LOCAL_TZ)
    left = cutoff - now
    today = clock.local_day(now)
    when = f"今日 {local_cutoff:%H:%M}" if local_cutoff.date() == today else f"{local_cutoff:%Y-%m-%d %H:%M}"
    return {"plan_date": plan_date, "editable": first <= plan_date <= last, "late": now > cutoff,
            "closed": plan_date < first, "ahead": plan_date > last, "resolvable": plan_date >= today, "last": last,
            "cutoff": cutoff, "when": when, "hours": int(left.total_seconds() // 3600),
            "minutes": int(left.total_seconds() % 3600 // 60)}


# ---------------------------------------------------------------------------------------------------------------
# Plans by date
# ---------------------------------------------------------------------------------------------------------------


def _plan_filters() -> tuple[date | None, date | None, bool, dict]:
    start, end = arg_date("start"), arg_date("end")
    late = arg_choice("late", ("1",)) == "1"
    return start, end, late, {"start": start.isoformat() if start else "", "end": end.isoformat() if end else "",
                              "late": "1" if late else ""}


@bp.route("/plans")
@require(PLAN)
def list_plans():
    """Plans by service date: items, unknown patients, late flag, revision, submission and build times."""
    start, end, late, args = _plan_filters()
    page = paginate(queries.plans_query(start, end, late), arg_int("page", 1), current_app.config["PAGE_SIZE"],
                    scalars=False)
    tomorrow, _ = clock.date_window()
    return render("casemgmt/plans/plan_list.html",
                  "casemgmt/plans/_plan_rows.html", page=page, args=args, start=start, end=end,
                  late=late, tomorrow=tomorrow, banner=cutoff_state(tomorrow))


# ---------------------------------------------------------------------------------------------------------------
# One date's plan
# ---------------------------------------------------------------------------------------------------------------


def _item_filters() -> tuple[str, str, int | None, dict]:
    q = arg_str("q", 64)
    status = arg_choice("status", queries.ITEM_STATES)
    ward_id = arg_int("ward_id", maximum=2**31 - 1)
    return q, status, ward_id, {"q": q, "status": status, "ward_id": ward_id or ""}


def _item_term(plan, q: str):
    """The search under the reveal rule: 403 for a full ID number the user may not see (else audited)."""
    if plan is None or not q:
        return None
    try:
        return queries.item_search(plan, q, current_user)
    except ServiceError as error:
        abort(error.status, error.message)


def _detail(day: date, form: PlanItemForm | None = None, status: int = 200, resolve_errors: dict | None = None,
            partial: str | None = "casemgmt/plans/_plan_items.html"):
    """The plan of one date: banner, items (filtered), unknown patients, the add form."""
    plan = queries.plan_for(day)
    banner = cutoff_state(day)
    if plan is None and not banner["editable"]:
        abort(404, f"{day:%Y-%m-%d} 没有次日服务计划。")
    q, status_filter, ward_id, args = _item_filters()
    per_page = current_app.config["PAGE_SIZE"]
    if plan is not None:
        term = _item_term(plan, q)
        page = paginate(queries.items_query(plan, q, status_filter, ward_id, term), arg_int("page", 1), per_page)
    else:
        page = Page([], 1, per_page, 0)
    task_states = queries.task_states([i.id for i in page.items])
    wards = [("", "（不指定）"), *queries.ward_choices()]
    return render("casemgmt/plans/plan_detail.html",
                  partial, status=status, day=day, plan=plan, banner=banner, page=page,
                  args=args, q=q, status_filter=status_filter, ward_id=ward_id, item_states=queries.ITEM_STATES,
                  wards=wards, task_states=task_states, task_state_labels=TASK_STATES,
                  unknown=matching.unknown_items(plan) if plan else [], resolve_errors=resolve_errors or {},
                  form=form or _form(PlanItemForm, formdata=None), new_patient_url=NEW_PATIENT_URL,
                  time_slots=TIME_SLOTS, active_count=queries.active_count(plan))


@bp.route("/plans/<plan_date>")
@require(PLAN)
def view_plan(plan_date: str):
    """One date's plan: its items with their state, the unknown patients to fix, and the form to add an item."""
    day = _day(plan_date)
    if wants_partial() and request.headers.get("HX-Target") == "plan-unknown":
        plan = queries.plan_for(day)
        if plan is None:
            abort(404, f"{day:%Y-%m-%d} 没有次日服务计划。")
        return render("casemgmt/plans/_plan_unknown.html",
                      day=day, unknown=matching.unknown_items(plan), resolve_errors={},
                      new_patient_url=NEW_PATIENT_URL, saved=None, banner=cutoff_state(day))
    if wants_partial() and request.headers.get("HX-Target") == "plan-facts":  # after planChanged: fresh counts
        plan = queries.plan_for(day)
        if plan is None:
            abort(404, f"{day:%Y-%m-%d} 没有次日服务计划。")
        return render("casemgmt/plans/_plan_facts.html", day=day, plan=plan, active_count=queries.active_count(plan),
                      unknown=matching.unknown_items(plan))
    return _detail(day)


@bp.route("/plans/<plan_date>/export")
@require(PLAN)
def export_plan_items(plan_date: str):
    """The date's plan items exactly as filtered, as .xlsx (names masked)."""
    day = _day(plan_date)
    plan = queries.plan_for(day)
    if plan is None:
        abort(404, f"{day:%Y-%m-%d} 没有次日服务计划。")
    q, status, ward_id, args = _item_filters()
    term = _item_term(plan, q)
    if term is not None and term.kind:
        args = {**args, "q": term.shown}  # the title line and the audit record never carry the full number

    def state(item: PlanItem) -> str:
        if item.is_cancelled:
            return "已取消"
        return "患者未匹配" if item.patient_id is None else "有效"

    columns = [
        Column("计划日期", lambda i: day, 12),
        Column("项目编号", lambda i: i.external_id, 18),
        Column("患者", lambda i: i.patient.masked_name if i.patient else masking.mask_name(i.patient_name), 10),
        Column("住院号/证件号", lambda i: i.patient_ref, 20),
        Column("服务项目", lambda i: i.task_type_label, 12),
        Column("服务内容", lambda i: i.service_item, 24),
        Column("病区", lambda i: i.ward.name if i.ward else "", 14),
        Column("床号", lambda i: i.bed, 8),
        Column("时段", lambda i: TIME_SLOTS.get(i.time_slot, i.time_slot), 8),
        Column("特殊需求", lambda i: "、".join(i.special_need_labels), 16),
        Column("特殊需求说明", lambda i: i.special_note, 24),
        Column("备注", lambda i: i.note, 30),
        Column("状态", state, 10),
        Column("迟报", lambda i: i.is_late, 6),
        Column("来源", lambda i: PLAN_SOURCES.get(i.source, i.source), 10),
        Column("提交时间", lambda i: i.submitted_at, 18),
    ]
    return export_query(queries.items_query(plan, q, status, ward_id, term), columns, f"次日服务计划{day:%Y%m%d}", args,
                        "plan_item")


@bp.route("/plans/<plan_date>/items", methods=["POST"])
@require(PLAN)
def add_plan_item(plan_date: str):
    """Add one item to a date's plan (a submission from the form: late after the cutoff)."""
    day = _day(plan_date)
    form = _form(PlanItemForm)
    if form.validate_on_submit():
        existed = queries.plan_for(day) is not None
        try:
            result = services.submit_plan(day, [_values(form)], source="form", adding=True)
        except ServiceError as error:
            _apply(form, error)
        else:
            item = result.items[0]
            late = "（已过截止时间，标记为迟报）" if result.late and result.changed else ""
            message = f"已添加计划项目{late}。"
            if item.patient_id is None:
                message += "未找到该患者，已列入“待匹配患者”，请匹配或新建患者。"
            if not existed:  # the first item: the page gains the plan's facts and sections
                flash(message, "success")
                return htmx_redirect(url_for("casemgmt.view_plan", plan_date=day.isoformat()))
            if wants_partial():
                return render("casemgmt/plans/_plan_item_form.html", day=day, form=_form(PlanItemForm, formdata=None),
                              item=None, saved=message, trigger={"planChanged": day.isoformat()})
            flash(message, "success")
            return redirect(url_for("casemgmt.view_plan", plan_date=day.isoformat()), 303)
    if wants_partial():
        return render("casemgmt/plans/_plan_item_form.html", status=422, day=day, form=form, item=None, saved=None)
    return _detail(day, form, 422, partial=None)


def _edit_page(item: PlanItem, form: PlanItemEditForm, status: int = 200):
    return render("casemgmt/plans/plan_item_form.html", "casemgmt/plans/_plan_item_form.html", status=status, item=item,
                  day=item.plan.plan_date, form=form, saved=None, banner=cutoff_state(item.plan.plan_date))


@bp.route("/plans/items/<int:item_id>/edit", methods=["GET", "POST"])
@require(PLAN)
def edit_plan_item(item_id: int):
    """Revise one item (service, ward, bed, slot, special needs, note); a cancelled item comes back."""
    item = _item_or_404(item_id)
    if request.method == "GET":
        form = _form(PlanItemEditForm, formdata=None, obj=item)
        return _edit_page(item, form)
    form = _form(PlanItemEditForm)
    if form.validate_on_submit():
        try:
            result = services.update_item(item, _values(form))
        except ServiceError as error:
            _apply(form, error)
        else:
            if result.changed:
                flash("已保存计划项目" + ("（已过截止时间，标记为迟报）" if result.late else "") + "。", "success")
            else:
                flash("内容没有变化，未作修改。", "info")
            return htmx_redirect(url_for("casemgmt.view_plan", plan_date=item.plan.plan_date.isoformat()))
    return _edit_page(item, form, 422)


@bp.route("/plans/items/<int:item_id>/cancel", methods=["POST"])
@require(PLAN)
def cancel_plan_item(item_id: int):
    """Withdraw one item (kept, marked cancelled; its task is cancelled)."""
    item = _item_or_404(item_id)
    try:
        services.cancel_item(item)
    except ServiceError as error:
        abort(error.status, error.message)
    flash(f"已取消项目 {item.external_id}。", "success")
    return htmx_redirect(url_for("casemgmt.view_plan", plan_date=item.plan.plan_date.isoformat()))


@bp.route("/plans/items/<int:item_id>/resolve", methods=["POST"])
@require(PLAN)
def resolve_plan_item(item_id: int):
    """Attach an item whose patient was not found to a patient, picked by hospital number or ID number."""
    item = _item_or_404(item_id)
    day = item.plan.plan_date
    ref = clean(request.form.get("ref"))
    error = None
    if not ref:
        error = "请填写患者的住院号或证件号码。"
    elif len(ref) > 64:
        error = "住院号或证件号码不能超过 64 个字符。"
    else:
        patient = find_by_ref(ref)
        if patient is None:
            error = f"找不到住院号或证件号码为 {parsing.stored_ref(ref)} 的患者；如是新患者，请先新建患者。"
        else:
            try:
                matching.resolve_unknown(item, patient)
            except ServiceError as refused:
                error = refused.message
    if error is None:
        message = f"已为项目 {item.external_id} 匹配患者 {item.patient.masked_name}。"
        if wants_partial():
            return render("casemgmt/plans/_plan_unknown.html", day=day, unknown=matching.unknown_items(item.plan),
                          resolve_errors={}, new_patient_url=NEW_PATIENT_URL, saved=message,
                          banner=cutoff_state(day), trigger={"planChanged": day.isoformat()})
        flash(message, "success")
        return redirect(url_for("casemgmt.view_plan", plan_date=day.isoformat()), 303)
    if wants_partial():
        plan = queries.plan_for(day)
        return render("casemgmt/plans/_plan_unknown.html", status=422, day=day, unknown=matching.unknown_items(plan),
                      resolve_errors={item_id: error}, new_patient_url=NEW_PATIENT_URL, saved=None,
                      banner=cutoff_state(day))
    return _detail(day, status=422, resolve_errors={item_id: error}, partial=None)


@bp.route("/plans/<plan_date>/rematch", methods=["POST"])
@require(PLAN)
def rematch_plan(plan_date: str):
    """Look the date's unknown patients up again (patients created since the plan arrived)."""
    day = _day(plan_date)
    matched = matching.rematch_unknown(day)
    flash(f"重新匹配完成：{matched} 项已找到患者。" if matched else "没有可自动匹配的患者；请逐项匹配或新建患者。",
          "success" if matched else "info")
    return redirect(url_for("casemgmt.view_plan", plan_date=day.isoformat()), 303)
