"""今日任务 on the ward tablets (list, complete in place) and 任务分派 (build the lists, place unassigned tasks)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from portal.auth.models import User
from portal.core.listing import arg_choice, arg_date, arg_int, arg_str, bad_request
from portal.core.permissions import has_permission, require
from portal.core.rendering import render, wants_partial
from portal.core.scoping import MAX_ID, get_or_404
from portal.core.service import ServiceError
from portal.core.templating import rendered_once, url_pattern
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.io.export import Column, export_query

from .. import ASSIGN, TASKS, bp
from ..models import OUTCOMES, TASK_TYPES, CareTask
from ..scoping import get_task_or_404, sees_all
from . import queries as task_queries
from . import services as tasks

# One tap on the card (short words); the form behind 填写详情 holds the rest.
QUICK_OUTCOMES = {"reached": "已完成", "not_reached": "未联系上", "declined": "患者拒绝"}
MODES = ("list", "overview")
BUILD_AHEAD_DAYS = 7
NOT_YOURS = "这不是您的任务，不能代为处理。"


def _may_assign() -> bool:
    return has_permission(current_user, ASSIGN)


def _list_filters() -> tuple[task_queries.TaskFilters, dict]:
    today = local_today()
    day = arg_date("day") or today
    manager_id: int | None = current_user.id
    requested = arg_int("manager_id", maximum=MAX_ID)
    # A case manager always sees their own list; a supervisor opens on the whole team's and may pick one list
    # (their own included: ?manager_id=<their id>).
    if sees_all(current_user):
        manager_id = requested or None
    filters = task_queries.TaskFilters(day=day, manager_id=manager_id,
                                       group=arg_choice("group", task_queries.GROUPS, "slot"),
                                       ward_id=arg_int("ward_id", maximum=MAX_ID),
                                       task_type=arg_choice("task_type", TASK_TYPES),
                                       status=arg_choice("status", task_queries.STATUSES, "all"), q=arg_str("q", 20))
    args = {"day": "" if day == today else day.isoformat(),
            "manager_id": "" if manager_id is None or not sees_all(current_user) else manager_id,
            "group": "" if filters.group == "slot" else filters.group, "ward_id": filters.ward_id or "",
            "task_type": filters.task_type, "status": "" if filters.status == "all" else filters.status,
            "q": filters.q}
    return filters, args


def _card_context(day: date, mode: str = "list", team: bool = False) -> dict:
    """What every card on a page shares: worked out once per page (links as patterns of the task id, the form's
    CSRF token and day), not once per card."""
    may_assign = _may_assign()
    today = local_today()
    day_iso = day.isoformat()
    urls = {"patient_url": url_pattern("casemgmt.view_patient", "patient_id"),
            "complete_url": url_pattern("casemgmt.complete_task", "task_id"),
            "detail_url": url_pattern("casemgmt.task_detail", "task_id", day=day_iso, team=1 if team else None)}
    if may_assign:
        urls |= {"reassign_url": url_pattern("casemgmt.reassign_task", "task_id"),
                 "reassign_form_url": url_pattern("casemgmt.reassign_form", "task_id", day=day_iso, mode=mode),
                 "dismiss_url": url_pattern("casemgmt.dismiss_task_flag", "task_id")}
    return {"day": day, "day_iso": day_iso, "today": today, "tomorrow": today + timedelta(days=1), "mode": mode,
            "may_assign": may_assign, "managers": task_queries.case_managers() if may_assign else [],
            "outcomes": OUTCOMES, "max_attempts": tasks.max_attempts(),
            "quick_buttons": rendered_once("casemgmt/tasks/_task_quick.html", quick_outcomes=QUICK_OUTCOMES,
                                           outcomes=OUTCOMES),
            "team_view": team, "entered": {}, "error_field": None, "message": None, "csrf": generate_csrf(),
            "viewer_id": current_user.id,
            **urls}


def _list_context(filters: task_queries.TaskFilters, args: dict) -> dict:
    if filters.manager_id is None:
        viewed = None
    else:
        viewed = current_user if filters.manager_id == current_user.id else get_or_404(User, filters.manager_id)
    items = task_queries.day_tasks(filters, current_user)
    truncated = len(items) >= task_queries.MAX_TASKS
    # Unfiltered and complete, the list itself gives the counts: no second query over the day.
    if filters.narrowed or truncated:
        counts = task_queries.day_counts(filters.day, filters.manager_id, current_user)
    else:
        counts = task_queries.counts_of(items, filters.day)
    context = _card_context(filters.day, team=filters.manager_id is None)
    if sees_all(current_user) and not context["managers"]:
        context["managers"] = task_queries.case_managers()
    return context | {
        "filters": filters, "args": args, "viewed": viewed, "items": items,
        "groups": task_queries.group_tasks(items, filters.day, filters.group),
        "truncated": truncated, "counts": counts,
        "groups_choice": task_queries.GROUPS, "statuses": task_queries.STATUSES, "task_types": TASK_TYPES,
        "prev_day": filters.day - timedelta(days=1), "next_day": filters.day + timedelta(days=1),
        "sees_all": sees_all(current_user)}


@bp.route("/tasks")
@require(TASKS)
def list_tasks():
    """A case manager's tasks for a day: overdue first, grouped by time slot or ward, with counts."""
    filters, args = _list_filters()
    return render("casemgmt/tasks/task_list.html", "casemgmt/tasks/_task_list.html", **_list_context(filters, args))


TASK_COLUMNS = [
    Column("应完成日期", lambda t: t.due_date, 12),
    Column("时段", lambda t: t.time_slot_label, 8),
    Column("病区", lambda t: t.ward.name if t.ward else "", 14),
    Column("床号", lambda t: t.bed, 8),
    Column("患者", lambda t: t.patient.masked_name, 10),
    Column("任务", lambda t: t.title, 24),
    Column("任务类型", lambda t: t.task_type_label, 12),
    Column("特殊需求", lambda t: "、".join(t.special_need_labels), 16),
    Column("特殊需求说明", lambda t: t.special_note, 24),
    Column("状态", lambda t: t.status_label, 8),
    Column("结果", lambda t: t.outcome_label, 14),
    Column("完成时间", lambda t: t.completed_at, 18),
    Column("备注", lambda t: t.note, 30),
    Column("个案管理师", lambda t: t.case_manager.display_name if t.case_manager else "未分派", 12),
    Column("未联系上次数", lambda t: t.attempts, 10),
]


@bp.route("/tasks/export")
@require(TASKS)
def export_tasks():
    """The day's list exactly as filtered, for printing or handing over (names masked)."""
    filters, args = _list_filters()
    return export_query(task_queries.day_tasks_query(filters, current_user), TASK_COLUMNS,
                        f"任务清单 {filters.day:%Y-%m-%d}", args, "care_task")


def _form_day() -> date:
    raw = request.form.get("day", "").strip()
    if not raw:
        return local_today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"日期“{raw[:20]}”格式不正确，应为 2026-11-23") from None


def _form_mode() -> str:
    mode = request.form.get("mode", "list")
    return mode if mode in MODES else "list"


def _card(task: CareTask, day: date, *, status: int = 200, message: str | None = None, level: str = "success",
          error_field: str | None = None, entered: dict | None = None, mode: str = "list", counts: bool = False):
    """The task's card (the htmx swap), or a page holding it when the browser posted without htmx."""
    team = request.form.get("team") == "1" and sees_all(current_user)
    context = _card_context(day, mode, team) | {"task": task, "message": message, "level": level,
                                                "error_field": error_field, "entered": entered or {}}
    if counts and (team or task.case_manager_id is not None):
        manager_id = None if team else task.case_manager_id
        context["counts"] = task_queries.day_counts(day, manager_id, current_user)
        context["args"] = {"day": "" if day == local_today() else day.isoformat(),
                           "manager_id": "" if team or manager_id == current_user.id else manager_id}
    return render("casemgmt/tasks/task_card.html", "casemgmt/tasks/_task_swap.html", status=status, **context)


def _completion(task: CareTask) -> dict:
    """The submitted outcome as the service's arguments; the step's fields are per task, so read by hand."""
    form = request.form
    outcome = form.get("outcome", "").strip()
    raw_score = form.get("score", "").strip()
    score = None
    if raw_score:
        if not raw_score.isdigit() or len(raw_score) > 2:
            raise ServiceError("满意度评分应为 1–5 分。", field="score")
        score = int(raw_score)
    reschedule_to = None
    raw_day = form.get("reschedule_to", "").strip()
    if outcome == "rescheduled" and raw_day:
        try:
            reschedule_to = date.fromisoformat(raw_day)
        except ValueError:
            raise ServiceError("改期日期格式不正确，应为 2026-11-23。", field="reschedule_to") from None
    values = {label: form.get(f"value_{i}", "") for i, label in enumerate(task.outcome_fields or [])}
    return {"outcome": outcome, "values": values, "note": form.get("note", ""), "score": score,
            "reschedule_to": reschedule_to}


@bp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@require(TASKS)
def complete_task(task_id: int):
    """Record a task's outcome (or move it to another day) from its card."""
    task = get_or_404(CareTask, task_id)
    day, mode = _form_day(), _form_mode()
    may_assign = _may_assign()
    # Checked before reading the form: someone else's task is refused without showing its card.
    if not tasks.can_act_on(task, current_user, may_assign):
        abort(403, NOT_YOURS)
    try:
        arguments = _completion(task)
        tasks.complete_task(task, current_user, may_assign=may_assign, **arguments)
    except ServiceError as error:
        entered = request.form.to_dict() if error.status == 422 else {}
        return _card(task, day, status=error.status, message=error.message, level="error",
                     error_field=error.field or ("form" if error.status == 422 else None), entered=entered,
                     mode=mode, counts=error.status == 409)
    if arguments["outcome"] == "rescheduled":
        message = f"已改期至 {task.due_date:%Y-%m-%d}。"
    elif task.status == "unreached":
        message = f"已记录：第 {task.attempts} 次未联系上，任务不再结转，已提醒个案管理组长跟进。"
    elif arguments["outcome"] == "not_reached":
        message = f"已记录：第 {task.attempts} 次未联系上，任务保留在清单中，明天继续。"
    else:
        message = f"已记录：{OUTCOMES[arguments['outcome']]}" + (
            f"，满意度 {arguments['score']} 分。" if arguments["score"] else "。")
    if not wants_partial():
        flash(message, "success")
        return redirect(url_for("casemgmt.list_tasks", day=day.isoformat()), 303)
    return _card(task, day, message=message, mode=mode, counts=True)


@bp.route("/tasks/<int:task_id>/detail")
@require(TASKS)
def task_detail(task_id: int):
    """A card's detail form (填写详情 / 改期), fetched when the card opens it; without htmx, the task's page
    with the form open. The same checks as completing: someone else's task is 404 (not seen) or 403."""
    task = get_task_or_404(task_id, current_user)
    if not tasks.can_act_on(task, current_user, _may_assign()):
        abort(403, NOT_YOURS)
    day = arg_date("day") or local_today()
    team = request.args.get("team") == "1" and sees_all(current_user)
    if wants_partial():  # the form alone: no card, so no list of managers to read
        return render("casemgmt/tasks/_task_detail.html", task=task, day=day, team_view=team, outcomes=OUTCOMES,
                      tomorrow=local_today() + timedelta(days=1), entered={}, error_field=None)
    return render("casemgmt/tasks/task_card.html",
                  **(_card_context(day, team=team) | {"task": task, "detail_open": True}))


@bp.route("/tasks/<int:task_id>/reassign")
@require(ASSIGN)
def reassign_form(task_id: int):
    """A card's reassign form (the list of case managers), fetched when the card opens it; without htmx, the
    task's page with the form open."""
    task = get_or_404(CareTask, task_id)
    day = arg_date("day") or local_today()
    mode = arg_choice("mode", MODES, "list")
    if wants_partial():  # the form alone, or a note that the task left the lists meanwhile
        return render("casemgmt/tasks/_task_reassign.html", task=task, tid=f"task-{task.id}", day=day,
                      day_iso=day.isoformat(), mode=mode, csrf=generate_csrf(), managers=task_queries.case_managers(),
                      reassign_url=url_pattern("casemgmt.reassign_task", "task_id"),
                      flagged=task.status == "unreached" and task.flagged_at is not None)
    return render("casemgmt/tasks/task_card.html", **(_card_context(day, mode) | {"task": task, "reassign_open": True}))


@bp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@require(ASSIGN)
def reassign_task(task_id: int):
    """The supervisor moves an open task to another case manager."""
    task = get_or_404(CareTask, task_id)
    day, mode = _form_day(), _form_mode()
    raw = request.form.get("case_manager_id", "").strip()
    try:
        if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
            raise ServiceError("请选择在岗的个案管理师。", field="case_manager_id")
        if task.status == "unreached" and task.flagged_at is not None:
            tasks.reopen_task(task, int(raw))  # a flagged task gets another round on someone's list
        else:
            tasks.reassign_task(task, int(raw))
    except ServiceError as error:
        return _card(task, day, status=error.status, message=error.message, level="error",
                     error_field=error.field or "form", mode=mode)
    name = db.session.get(User, task.case_manager_id).display_name
    message = f"已改派给{name}。"
    if not wants_partial():
        flash(message, "success")
        return redirect(url_for("casemgmt.task_overview", day=day.isoformat()), 303)
    return _card(task, day, message=message, mode=mode)


@bp.route("/tasks/<int:task_id>/dismiss", methods=["POST"])
@require(ASSIGN)
def dismiss_task_flag(task_id: int):
    """The supervisor has followed up a task flagged after repeated "not reached": it leaves the flagged list."""
    task = get_or_404(CareTask, task_id)
    day, mode = _form_day(), _form_mode()
    try:
        tasks.dismiss_flag(task)
    except ServiceError as error:
        return _card(task, day, status=error.status, message=error.message, level="error", mode=mode)
    message = "已标记为组长已跟进。"
    if not wants_partial():
        flash(message, "success")
        return redirect(url_for("casemgmt.task_overview", day=day.isoformat()), 303)
    return _card(task, day, message=message, mode=mode)


def _overview_context(day: date, result: tasks.BuildResult | None = None, error: str | None = None,
                      build_day: date | None = None, flagged_after: tuple[datetime, int] | None = None) -> dict:
    context = _card_context(day, "overview")
    rows, unassigned = task_queries.overview(day, context["managers"])
    # The overview already counted the open unassigned tasks (the same condition): none, no query for them.
    return context | _flagged_context(flagged_after) | {
        "rows": rows, "unassigned": unassigned,
        "unassigned_tasks": task_queries.unassigned_tasks(day) if unassigned.open else [],
        "build_message": _build_summary(result) if result else None, "error": error,
        "build_day": build_day or local_today() + timedelta(days=1)}


def _flagged_context(after: tuple[datetime, int] | None = None) -> dict:
    """One batch of flagged cards (the first, or the one after a card), the total, how many are shown up to the
    batch's end, and where the next batch starts (None: no more)."""
    total = tasks.flagged_count()
    batch = tasks.flagged_tasks(after) if total else []
    last = (batch[-1].flagged_at, batch[-1].id) if batch else None
    remaining = tasks.flagged_count(last) if last and len(batch) == tasks.FLAGGED_PAGE else 0
    shown = max(total - remaining, len(batch))
    return {"flagged_tasks": batch, "flagged_total": total, "flagged_shown": shown,
            "flagged_first": shown - len(batch) + 1, "flagged_remaining": remaining,
            "flagged_later": after is not None, "flagged_next": last if remaining else None}


def _flagged_anchor() -> tuple[datetime, int] | None:
    """?after_at=<when flagged>&after_id=<task id>: the last card shown (both or neither), else a 400."""
    raw, task_id = request.args.get("after_at", "").strip(), arg_int("after_id", maximum=MAX_ID)
    if not raw and task_id is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_request("参数“after_at”应为时间（如 2026-11-23T08:00:00+00:00）") from None
    if task_id is None or at.tzinfo is None:
        raise bad_request("参数“after_at”与“after_id”应同时给出，时间带时区")
    return at, task_id


@bp.route("/tasks/overview")
@require(ASSIGN)
def task_overview():
    """Every case manager's list for a day at a glance, the unassigned tasks, and building tomorrow's lists."""
    day = arg_date("day") or local_today()
    return render("casemgmt/tasks/task_overview.html", "casemgmt/tasks/_task_overview.html", **_overview_context(day))


@bp.route("/tasks/overview/flagged")
@require(ASSIGN)
def flagged_batch():
    """The next batch of flagged cards (显示更多): appended to the overview's grid by htmx; without it, the
    overview page itself with that batch."""
    day = arg_date("day") or local_today()
    after = _flagged_anchor()
    if not wants_partial():
        return render("casemgmt/tasks/task_overview.html", "casemgmt/tasks/_task_overview.html",
                      **_overview_context(day, flagged_after=after))
    return render("casemgmt/tasks/_flagged_batch.html", **(_card_context(day, "overview") | _flagged_context(after)))


@bp.route("/tasks/build", methods=["POST"])
@require(ASSIGN)
def build_tasks():
    """Build (or rebuild) the task lists for a day, tomorrow unless another day is chosen."""
    today = local_today()
    raw = request.form.get("day", "").strip()
    error, day = None, today + timedelta(days=1)
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            error = f"日期“{raw[:20]}”格式不正确，应为 2026-11-23。"
    if error is None and not today <= day <= today + timedelta(days=BUILD_AHEAD_DAYS):
        error = f"只能生成今天至 {BUILD_AHEAD_DAYS} 天内的任务清单。"
    if error:
        return render("casemgmt/tasks/task_overview.html", "casemgmt/tasks/_task_overview.html", status=422,
                      **_overview_context(today, error=error))
    result = tasks.build_daily_tasks(day)
    if not wants_partial():
        flash(_build_summary(result), "success")
        return redirect(url_for("casemgmt.task_overview", day=day.isoformat()), 303)
    response = render("casemgmt/tasks/_task_overview.html", **_overview_context(day, result=result, build_day=day))
    response.headers["HX-Push-Url"] = url_for("casemgmt.task_overview", day=day.isoformat())
    return response


def _build_summary(result: tasks.BuildResult) -> str:
    return (f"{result.day:%Y-%m-%d} 任务清单已生成：新增 {result.created} 项，更新 {result.updated} 项，"
            f"取消 {result.cancelled} 项，结转 {result.carried_over} 项，未分派 {result.unassigned} 项。")
