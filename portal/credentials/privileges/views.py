"""Privilege pages: medical affairs' list and export, a person's privileges, a record with its timeline and
adjustments, the renewal list and page, today's interception alerts, the emergency overrides, the admission
rules, the department's bulk application, and the clinician's own privileges and application (phone layout:
they open in WeCom)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.approvals.models import ApprovalInstance
from portal.auth.models import Staff
from portal.auth.queries import department_choices
from portal.core.listing import arg_choice, arg_date, arg_int, arg_str, paginate
from portal.core.permissions import SIGNED_IN, has_permission, require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.io.export import Column, export_query
from portal.quality.outcomes.queries import surgeon_outcomes

from .. import (
    APPLY_DEPARTMENT,
    APPLY_PRIVILEGE,
    CONFIGURE_RULES,
    CONFIRM_OVERRIDES,
    VIEW_PRIVILEGES,
    bp,
)
from ..models.privileges import ACTIONS, GRADES, LIST_STATES, Privilege, PrivilegeOverride, PrivilegeRule
from ..qualifications import queries as qualification_queries
from . import queries, services
from .forms import AdjustmentForm, ApplicationForm, BulkApplicationForm, ConfirmForm, RenewalForm, RuleForm

OVERRIDE_STATES = {"open": "待确认", "overdue": "超时未确认", "confirmed": "已确认", "all": "全部"}


def _filters() -> queries.Filters:
    return queries.Filters(q=arg_str("q", 50), department_id=arg_int("department_id"),
                           grade=arg_int("grade", maximum=4), technology=arg_str("technology", 40),
                           state=arg_choice("state", LIST_STATES),
                           ending_days=arg_int("ending", maximum=queries.MAX_ENDING_DAYS))


@bp.route("/privileges")
@require(VIEW_PRIVILEGES)
def list_privileges():
    """Privileges in the user's departments: search, filters (department, grade, technology, state, ending
    within N days), pages of 20."""
    filters, today = _filters(), local_today()
    principal = current_user.principal
    page = paginate(queries.list_query(principal, filters, today), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("credentials/privileges/privilege_list.html", "credentials/privileges/_privilege_rows.html",
                  page=page, args=filters.args(), filters=filters, today=today, states=LIST_STATES, grades=GRADES,
                  departments=department_choices(principal, VIEW_PRIVILEGES))


@bp.route("/privileges/export")
@require(VIEW_PRIVILEGES)
def export_privileges():
    """The privilege list exactly as filtered (and scoped), as .xlsx."""
    filters, today = _filters(), local_today()
    columns = [
        Column("工号", lambda p: p.staff.employee_no, 10),
        Column("姓名", lambda p: p.staff.name, 10),
        Column("科室", lambda p: p.staff.department.name, 14),
        Column("授权方式", lambda p: "单项技术" if p.kind == "technology" else "分级", 10),
        Column("范围", lambda p: p.scope_label, 30),
        Column("技术编码", lambda p: p.technology.code if p.technology else "", 14),
        Column("权限", lambda p: p.rights_label, 14),
        Column("授权起", lambda p: p.valid_from, 12),
        Column("授权至", lambda p: p.valid_to, 12),
        Column("状态", lambda p: p.state_label(today), 10),
        Column("事项", lambda p: p.action_label, 10),
    ]
    return export_query(queries.list_query(current_user.principal, filters, today), columns, "授权清单",
                        filters.args(), "privilege")


def _visible(record_id: int) -> Privilege:
    record = get_or_404(Privilege, record_id)
    own = current_user.staff_id is not None and record.staff_id == current_user.staff_id
    if not own and not (has_permission(current_user, VIEW_PRIVILEGES)
                        and current_user.principal.can_act_on(VIEW_PRIVILEGES, record.staff.department_id)):
        abort(404)
    return record


def _can_adjust(record: Privilege) -> bool:
    return (has_permission(current_user, APPLY_DEPARTMENT)
            and current_user.principal.can_act_on(APPLY_DEPARTMENT, record.staff.department_id))


def _detail(record: Privilege, form: AdjustmentForm | None = None, status: int = 200, messages=()):
    instance = db.session.get(ApprovalInstance, record.approval_id) if record.approval_id else None
    return render("credentials/privileges/privilege_detail.html", status=status, record=record, today=local_today(),
                  timeline=queries.chain(record), instance=instance, attachments=services.attachments_of(record),
                  pending=queries.open_adjustment(record), can_adjust=_can_adjust(record),
                  form=form or AdjustmentForm(formdata=None), adjustable=services.ADJUSTABLE, actions=ACTIONS,
                  messages=messages, own=record.staff_id == current_user.staff_id)


@bp.route("/privileges/<int:record_id>")
@require(SIGNED_IN)
def view_privilege(record_id: int):
    """One privilege: facts, state, approval progress and the timeline of its adjustment chain."""
    return _detail(_visible(record_id))


def _files() -> list[tuple[str, bytes]]:
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    if len(files) > services.MAX_FILES:
        raise ServiceError(f"一次最多上传 {services.MAX_FILES} 个附件。", field="attachments")
    return [(f.filename, f.read()) for f in files]


@bp.route("/privileges/<int:record_id>/adjust", methods=["POST"])
@require(APPLY_DEPARTMENT)
def adjust_privilege(record_id: int):
    """Propose an adjustment (suspend, restore, revoke, narrow, extend, upgrade, downgrade) with a reason and
    evidence: a new linked record, through the approval engine."""
    record = get_or_404(Privilege, record_id)
    if not _can_adjust(record):
        abort(404)
    form = AdjustmentForm()
    if form.validate_on_submit():
        try:
            new = services.adjust_privilege(record, current_user, form.action.data, form.values(), _files())
        except services.ApplicationRefused as refused:
            return _detail(record, form, 422, refused.messages)
        except ServiceError as error:
            form.apply_error(error)
            return _detail(record, form, error.status)
        flash(f"已提交{ACTIONS[form.action.data]}申请，等待审批。", "success")
        return redirect(url_for("credentials.view_privilege", record_id=new.id), 303)
    return _detail(record, form, 422)


@bp.route("/privileges/people/<int:staff_id>")
@require(VIEW_PRIVILEGES)
def view_person_privileges(staff_id: int):
    """A person's privileges: what counts today, what is ending, applications and the history."""
    staff = queries.staff_in_scope(staff_id, current_user.principal)
    if staff is None:
        abort(404)
    today = local_today()
    records = queries.person_records(staff.id)
    return render("credentials/privileges/person.html", staff=staff, today=today,
                  current=[r for r in records if r.status in ("active", "expired", "suspended")],
                  applications=[r for r in records if r.status in ("pending", "returned")],
                  history=[r for r in records if r.status in ("superseded", "revoked", "rejected", "withdrawn")])


@bp.route("/privileges/renewals")
@require(VIEW_PRIVILEGES)
def list_renewals():
    """Privileges ending within 90 days (再授权): renewal rests on the holder's evidence."""
    today = local_today()
    days = arg_int("days", 90, maximum=365)
    page = paginate(queries.renewal_query(current_user.principal, today, days), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"])
    return render("credentials/privileges/renewal_list.html", page=page, today=today, days=days,
                  args={"days": days})


@bp.route("/privileges/<int:record_id>/renewal", methods=["GET", "POST"])
@require(SIGNED_IN)
def renew_privilege(record_id: int):
    """The renewal page: the holder's evidence (qualifications, history; surgery data once connected) and the
    renewal application (the holder, the department or medical affairs)."""
    record = _visible(record_id)
    may_apply = (record.staff_id == current_user.staff_id and has_permission(current_user, APPLY_PRIVILEGE)) \
        or _can_adjust(record)
    form = RenewalForm()
    status, messages = 200, []
    if request.method == "POST":
        if not may_apply:
            abort(403)
        if form.validate_on_submit():
            try:
                new = services.adjust_privilege(record, current_user, "renew",
                                                {"valid_to": form.valid_to.data, "reason": form.reason.data},
                                                _files())
            except services.ApplicationRefused as refused:
                status, messages = 422, refused.messages
            except ServiceError as error:
                form.apply_error(error)
                status = error.status
            else:
                flash("再授权申请已提交，等待审批。", "success")
                return redirect(url_for("credentials.view_privilege", record_id=new.id), 303)
        else:
            status = 422
    today = local_today()
    return render("credentials/privileges/renewal.html", status=status, record=record, form=form, today=today,
                  may_apply=may_apply, messages=messages, timeline=queries.chain(record),
                  qualifications=qualification_queries.person_records(record.staff_id),
                  pending=queries.open_adjustment(record),
                  outcomes=surgeon_outcomes(record.staff_id, record.valid_from, min(record.valid_to, today)))


@bp.route("/privileges/alerts")
@require(VIEW_PRIVILEGES)
def list_alerts():
    """Interception alerts of a day (today by default): who was stopped from what, and why."""
    day = arg_date("day") or local_today()
    services.drain_alerts()  # denials noted in the last minute
    page = paginate(queries.alerts_query(current_user.principal, day), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"])
    return render("credentials/privileges/alert_list.html", page=page, day=day, today=local_today(),
                  args={"day": day.isoformat()})


@bp.route("/privileges/overrides")
@require(VIEW_PRIVILEGES)
def list_overrides():
    """Emergency overrides reported by HIS: open ones first (overdue past 24 hours in red)."""
    state = arg_choice("state", OVERRIDE_STATES, "open")
    page = paginate(queries.overrides_query(current_user.principal, state), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"])
    from portal.core.timeutil import utcnow

    return render("credentials/privileges/override_list.html", page=page, state=state, states=OVERRIDE_STATES,
                  now=utcnow(), args={"state": state})


def _override(override_id: int) -> PrivilegeOverride:
    item = get_or_404(PrivilegeOverride, override_id)
    if not current_user.principal.can_act_on(VIEW_PRIVILEGES, item.staff.department_id):
        abort(404)
    return item


def _override_page(item: PrivilegeOverride, form: ConfirmForm | None = None, status: int = 200):
    from portal.core.timeutil import utcnow

    can_confirm = (item.status == "open" and has_permission(current_user, CONFIRM_OVERRIDES)
                   and current_user.principal.can_act_on(CONFIRM_OVERRIDES, item.staff.department_id))
    return render("credentials/privileges/override_detail.html", status=status, item=item, now=utcnow(),
                  form=form or ConfirmForm(formdata=None), can_confirm=can_confirm)


@bp.route("/privileges/overrides/<int:override_id>")
@require(VIEW_PRIVILEGES)
def view_override(override_id: int):
    """One emergency override and its follow-up."""
    return _override_page(_override(override_id))


@bp.route("/privileges/overrides/<int:override_id>/confirm", methods=["POST"])
@require(CONFIRM_OVERRIDES)
def confirm_override(override_id: int):
    """The department head confirms an emergency override."""
    item = _override(override_id)
    if not current_user.principal.can_act_on(CONFIRM_OVERRIDES, item.staff.department_id):
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            services.confirm_override(item, current_user, form.comment.data)
        except ServiceError as error:
            form.apply_error(error)
            return _override_page(item, form, error.status)
        flash("已确认紧急授权。", "success")
        return redirect(url_for("credentials.view_override", override_id=item.id), 303)
    return _override_page(item, form, 422)


# --- admission rules ---------------------------------------------------------------------------------------

@bp.route("/privileges/rules")
@require(CONFIGURE_RULES)
def list_rules():
    """Admission rules per grade and category."""
    return render("credentials/privileges/rule_list.html", rules=queries.all_rules(), grades=GRADES)


@bp.route("/privileges/rules/new", methods=["GET", "POST"], defaults={"rule_id": None})
@bp.route("/privileges/rules/<int:rule_id>", methods=["GET", "POST"])
@require(CONFIGURE_RULES)
def edit_rule(rule_id: int | None):
    """Create or change an admission rule."""
    item = get_or_404(PrivilegeRule, rule_id) if rule_id else None
    form = RuleForm(obj=item) if request.method == "GET" and item else RuleForm()
    if form.validate_on_submit():
        try:
            services.save_rule(item, form.values())
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("已保存准入条件。", "success")
            return redirect(url_for("credentials.list_rules"), 303)
    return render("credentials/privileges/rule_form.html", status=422 if request.method == "POST" else 200,
                  form=form, item=item)


# --- applications ------------------------------------------------------------------------------------------

@bp.route("/privileges/department/apply", methods=["GET", "POST"])
@require(APPLY_DEPARTMENT)
def apply_department():
    """The department applies for many people at once (one technology or grade), checked for each first."""
    within = current_user.principal.departments_for(APPLY_DEPARTMENT)
    stmt = select(Staff).where(Staff.is_active).order_by(Staff.department_id, Staff.employee_no)
    if within is not None:
        stmt = stmt.where(Staff.department_id.in_(within or [0]))
    people = list(db.session.scalars(stmt.limit(500)))
    form = BulkApplicationForm()
    form.staff_ids.choices = [(s.id, f"{s.name}（{s.employee_no}，{s.department.name}）") for s in people]
    messages, status = [], 200
    if request.method == "POST":
        if form.validate_on_submit():
            chosen = [s for s in people if s.id in set(form.staff_ids.data or [])]
            try:
                created = services.apply_bulk(current_user, chosen, form.values(), _files(), within=within)
            except services.ApplicationRefused as refused:
                messages, status = refused.messages, 422
            except ServiceError as error:
                form.apply_error(error)
                status = error.status
            else:
                flash(f"已为 {len(created)} 人提交授权申请，等待审批。", "success")
                return redirect(url_for("credentials.list_privileges", state="pending"), 303)
        else:
            status = 422
    return render("credentials/privileges/bulk_form.html", status=status, form=form, messages=messages)


@bp.route("/privileges/my")
@require(APPLY_PRIVILEGE)
def my_privileges():
    """The signed-in clinician's privileges and applications, as cards (opened in WeCom on a phone)."""
    records = queries.my_records(current_user.staff_id)
    return render("credentials/privileges/my_list.html", today=local_today(), has_staff=current_user.staff_id,
                  applications=[r for r in records if queries.is_application(r)],
                  held=[r for r in records if r.status in ("active", "expired", "suspended")])


@bp.route("/privileges/my/apply", methods=["GET", "POST"])
@require(APPLY_PRIVILEGE)
def apply_privilege():
    """Apply for a privilege of one's own; every rule it breaks is listed before anything is submitted."""
    form = ApplicationForm()
    messages, status = [], 200
    if request.method == "POST":
        if form.validate_on_submit():
            staff = current_user.staff
            try:
                if staff is None:
                    raise ServiceError("您的账户没有关联人员档案，不能申请授权，请联系医务科。", status=403)
                record = services.apply_privilege(current_user, staff, form.values(), _files())
            except services.ApplicationRefused as refused:
                messages, status = refused.messages, 422
            except ServiceError as error:
                form.apply_error(error)
                status = error.status
            else:
                flash("授权申请已提交，等待科主任审核。", "success")
                return redirect(url_for("credentials.view_privilege", record_id=record.id), 303)
        else:
            status = 422
    return render("credentials/privileges/apply_form.html", status=status, form=form, messages=messages)
