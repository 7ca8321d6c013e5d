"""The dashboard of key projects, a project's execution page, creation, settings, and the final accounts."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth.queries import department_choices
from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.service import ServiceError
from portal.core.timeutil import utcnow
from portal.io.export import Column, export_rows

from .. import MANAGE, VIEW, bp
from ..execution.queries import ZERO, Figures, dashboard_query, dashboard_rows
from ..models import PROJECT_STATES
from . import services
from .forms import CloseForm, ProjectForm, SettingsForm
from .queries import detail_context, project_or_404


def _filters():
    status = arg_choice("status", PROJECT_STATES)
    department_id = arg_int("department_id")
    warned = arg_choice("warned", ("1",)) == "1"
    return status, department_id, warned, {"status": status, "department_id": department_id or "",
                                           "warned": "1" if warned else ""}


@bp.route("")
@require(VIEW)
def dashboard():
    """All key projects in scope with execution rates and warnings."""
    status, department_id, warned, args = _filters()
    principal = current_user.principal
    page = paginate(dashboard_query(principal, status, department_id, warned, with_spending=False),
                    arg_int("page", 1), current_app.config["PAGE_SIZE"], scalars=False)
    page.items = dashboard_rows_of(page.items)
    return render("budget/dashboard.html", "budget/_project_rows.html", page=page, args=args, states=PROJECT_STATES,
                  status_filter=status, warned=warned, department_id=department_id,
                  departments=department_choices(principal, VIEW))


def dashboard_rows_of(items) -> list[dict]:
    """A page of projects with their figures (the spending summed for these projects only)."""
    return [{"project": m["BudgetProject"],
             "figures": Figures(Decimal(m["budget"]).quantize(ZERO), _amount(m["committed"]), _amount(m["spent"])),
             "warnings": int(m["warnings"])} for m in items]


def _amount(value) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(ZERO)


@bp.route("/export")
@require(VIEW)
def export_dashboard():
    """The dashboard exactly as filtered, as .xlsx."""
    status, department_id, warned, args = _filters()
    rows = dashboard_rows(dashboard_query(current_user.principal, status, department_id, warned))
    columns = [Column("项目编号", lambda r: r["project"].code, 14), Column("项目名称", lambda r: r["project"].name, 30),
               Column("负责科室", lambda r: r["project"].department.name, 16),
               Column("预算版本", lambda r: f"V{r['project'].current_version}", 8),
               Column("预算", lambda r: r["figures"].budget, 14, "#,##0.00"),
               Column("占用（待审批）", lambda r: r["figures"].committed, 14, "#,##0.00"),
               Column("已支出", lambda r: r["figures"].spent, 14, "#,##0.00"),
               Column("余额", lambda r: r["figures"].remaining, 14, "#,##0.00"),
               Column("执行率", lambda r: r["figures"].rate, 10, "0.0%"),
               Column("预警", lambda r: r["warnings"], 8), Column("状态", lambda r: r["project"].status_label, 8)]
    return export_rows(rows, columns, "重点项目预算执行", args, "budget_project")


@bp.route("/projects/new", methods=["GET", "POST"])
@require(MANAGE)
def new_project():
    """Create a key project with its budget lines."""
    form = ProjectForm()
    form.department_id.choices = select_choices(department_choices(current_user.principal, MANAGE,
                                                                   blank="（请选择）", active_only=True))
    if form.validate_on_submit():
        try:
            project = services.create_project(
                code=form.code.data, name=form.name.data, department_id=form.department_id.data,
                start_date=form.start_date.data, end_date=form.end_date.data, lines=form.lines.data,
                thresholds=form.thresholds.data, ahead_margin=form.ahead_margin.data,
                approve_over_line=form.approve_over_line.data, within=current_user.principal.departments_for(MANAGE))
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已建立项目“{project.name}”。", "success")
            return redirect(url_for("budget.view_project", project_id=project.id), 303)
    return render("budget/project_form.html", status=422 if request.method == "POST" else 200, form=form)


@bp.route("/projects/<int:project_id>")
@require(VIEW)
def view_project(project_id: int):
    """A project's execution per line against a version (default the current one), warnings, versions, changes."""
    project = project_or_404(project_id)
    version = arg_int("version")
    context = detail_context(project, version)
    form = SettingsForm(formdata=None, obj=project)
    return render("budget/project_detail.html", **context, settings_form=form)


@bp.route("/projects/<int:project_id>/settings", methods=["POST"])
@require(MANAGE)
def update_settings(project_id: int):
    """The project's thresholds, ahead-of-time margin and approval of overspending."""
    project = project_or_404(project_id, MANAGE)
    form = SettingsForm()
    if form.validate_on_submit():
        try:
            services.update_settings(project, thresholds=form.thresholds.data, ahead_margin=form.ahead_margin.data,
                                     approve_over_line=form.approve_over_line.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("预警设置已保存。", "success")
            return redirect(url_for("budget.view_project", project_id=project.id), 303)
    return render("budget/project_detail.html", status=422, **detail_context(project), settings_form=form)


def _accounts(project, form=None, status=200, template="budget/accounts.html"):
    rows, total, version = services.final_accounts(project)
    return render(template, status=status, project=project, rows=rows, total=total, version=version,
                  form=form or CloseForm(formdata=None), printed_at=utcnow())


@bp.route("/projects/<int:project_id>/accounts")
@require(VIEW)
def view_accounts(project_id: int):
    """The final accounts (决算表): budget vs actual per line, variance and explanation; printable."""
    return _accounts(project_or_404(project_id))


@bp.route("/projects/<int:project_id>/accounts/export")
@require(VIEW)
def export_accounts(project_id: int):
    """The final accounts as .xlsx."""
    project = project_or_404(project_id)
    rows, total, version = services.final_accounts(project)
    columns = [Column("科目编码", lambda r: r.line.code if r.line else "", 12),
               Column("预算科目", lambda r: (("　" * r.level) + r.line.name) if r.line else "合计", 28),
               Column("类别", lambda r: r.line.category_label if r.line else "", 12),
               Column(f"预算（V{version}）", lambda r: r.budget, 14, "#,##0.00"),
               Column("实际支出", lambda r: r.actual, 14, "#,##0.00"),
               Column("差异（预算-实际）", lambda r: r.variance, 14, "#,##0.00"),
               Column("执行率", lambda r: r.rate, 10, "0.0%"),
               Column("差异说明", lambda r: r.line.variance_note if r.line else project.closing_note, 40)]
    return export_rows([*rows, total], columns, f"决算表_{project.code}", {"project": project.code},
                       "budget_project")


@bp.route("/projects/<int:project_id>/close", methods=["POST"])
@require(MANAGE)
def close_project(project_id: int):
    """Close the project with an explanation per line (决算)."""
    project = project_or_404(project_id, MANAGE)
    form = CloseForm()
    if form.validate_on_submit():
        notes = {int(k[5:]): v for k, v in request.form.items() if k.startswith("note_") and k[5:].isdigit()}
        try:
            services.close_project(project, notes, form.closing_note.data or "")
        except ServiceError as error:
            form.apply_error(error)
            return _accounts(project, form, error.status)
        flash("项目已决算。", "success")
        return redirect(url_for("budget.view_accounts", project_id=project.id), 303)
    return _accounts(project, form, 422)
