"""Pages the registry gives every declared report: the report, its export, drill-down rows, the archive.

Routes need a signed-in user; each report's own permission is checked here (403), and its data are
limited by the report's scope. Filters live in the URL (the filter bar pushes them with htmx).
"""

from __future__ import annotations

from flask import abort, current_app, flash, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal.core.listing import apply_sort, arg_choice, arg_int, paginate, parse_sort
from portal.core.permissions import SIGNED_IN, has_permission, require
from portal.core.rendering import htmx_redirect, render
from portal.core.service import ServiceError
from portal.extensions import db
from portal.io.export import export_query, send_xlsx

from . import bp, engine, excel, registry, services
from .params import COMPARE_HEADERS, COMPARES, Params

BODY = "#report-body"
SCOPE_NOTE = "只列出您负责或有权查看的记录。"


def me():
    return current_user._get_current_object()


def _fail(error: ServiceError):
    abort(error.status, error.message)


def _report(code: str) -> registry.Report:
    report = registry.get(code)
    if report is None:
        abort(404, "没有这个报表。")
    if not has_permission(current_user, report.permission):
        abort(403, "您没有查看该报表的权限。")
    return report


def _params(report: registry.Report) -> Params:
    try:
        params = Params.parse(report, request.args)
        if params.department_id:
            engine.department_subtree(params.department_id)  # a department that does not exist is a 400
    except ServiceError as error:
        _fail(error)
    return params


def department_choices(report: registry.Report) -> list[tuple[int, str]]:
    """The departments the user may pick: those of their scope (all for a hospital-wide role)."""
    from sqlalchemy import select

    from portal.auth.models import Department

    if not report.department_filter:
        return []
    stmt = select(Department.id, Department.name).where(Department.is_active.is_(True))
    ids = current_user.principal.departments_for(report.permission)
    if ids is not None:
        stmt = stmt.where(Department.id.in_(ids or [-1]))
    return list(db.session.execute(stmt.order_by(Department.path, Department.sort_order, Department.name)).all())


def _scope_note(report: registry.Report) -> str:
    return "" if engine.sees_everything(report, me()) else SCOPE_NOTE


def _context(report: registry.Report, params: Params) -> dict:
    """One context for the page and its partial (the markup exists once)."""
    try:
        result = engine.run(report, params, me(), page=arg_int("page", 1))
    except ServiceError as error:
        _fail(error)
    dept = services.department_name(params.department_id)
    prev_args, next_args = params.neighbours()
    return {"note": report.note(result) if report.note else "", "scope_note": _scope_note(report),
            "home": report.back(params) if report.back else None,
            "report": report, "params": params, "result": result, "args": params.args(),
            "filter_lines": result.filter_lines(dept), "chart": result.derive("chart", result.chart_data),
            "table": result.derive("table", lambda: Markup(render_template("reports/_report_table.html", report=report,
                                                                           params=params, result=result,
                                                                           compare_header=COMPARE_HEADERS.get(
                                                                               params.compare, "")))),
            "compares": COMPARES,
            "departments": department_choices(report), "prev_args": prev_args, "next_args": next_args,
            "compare_header": COMPARE_HEADERS.get(params.compare, "")}


@bp.route("/")
@require(SIGNED_IN)
def list_reports():
    """The reports this user may open, by group."""
    groups: dict[str, list] = {}
    for report in registry.all_reports():
        if has_permission(current_user, report.permission):
            groups.setdefault(report.group, []).append(report)
    return render("reports/report_list.html", groups=groups)


@bp.route("/<code>")
@require(SIGNED_IN)
def show_report(code: str):
    """A declared report with its filter bar; htmx gets the body (chart, table, totals) only."""
    report = _report(code)
    params = _params(report)
    return render("reports/report.html", "reports/_report_body.html", **_context(report, params))


@bp.route("/<code>/export")
@require(SIGNED_IN)
def export_report(code: str):
    """Exactly the table the page shows, with its chart, as .xlsx (audited)."""
    report = _report(code)
    params = _params(report)
    try:
        result = engine.run(report, params, me(), links=False)
    except ServiceError as error:
        _fail(error)
    content = excel.report_xlsx(result, services.department_name(params.department_id))
    return send_xlsx(content, excel.file_name(result))


def _drill(code: str):
    """One number's rows: report, filters, its column, {dimension: value}, sort and the select (restricted, sorted)."""
    report = _report(code)
    params = _params(report)
    keys = [c.key for c in report.columns if c.drill is not None and c.drill.rows is not None]
    if not keys:
        abort(404, "该报表没有明细。")
    column = report.column(arg_choice("column", keys) or keys[0])
    dims = {}
    for dim in report.dimensions:
        name = f"k_{dim.key}"
        if name in request.args:
            raw = request.args.get(name, "").strip()
            if len(raw) > 100:
                abort(400, f"参数“{name}”过长。")
            try:
                dims[dim.key] = dim.key_type(raw) if raw else None
            except (TypeError, ValueError):
                abort(400, f"参数“{name}”的取值无效。")
    sort = None
    if column.drill.sort:
        allowed, default, tiebreak = column.drill.sort
        sort = parse_sort(allowed, default)
    try:
        stmt = engine.restrict(report, column.drill.rows(params, dims), params, me())
    except ServiceError as error:
        _fail(error)
    except (ValueError, TypeError, KeyError):
        abort(400, "明细条件无效。")
    if sort is not None:
        stmt = apply_sort(stmt.order_by(None), sort, allowed, tiebreak)
    return report, params, column, dims, sort, stmt


def _drill_args(params: Params, column, dims: dict, sort) -> dict:
    args = {**params.args(compare=None), "column": column.key,
            **{f"k_{k}": "" if v is None else v for k, v in dims.items()}}
    if sort is not None and sort.param != column.drill.sort[1]:
        args["sort"] = sort.param
    return args


def _drill_lines(report: registry.Report, params: Params, dims: dict) -> list[tuple[str, str]]:
    """What selects the rows besides the period, as (label, value): the page's line and the file's filters."""
    lines = []
    if params.department_id:
        lines.append(("科室", services.department_name(params.department_id)))
    labels = engine.labels_for(report, [dims])
    lines += [(report.column(k).header, engine.label_of(report, labels, k, v)) for k, v in dims.items()]
    lines += [(c.label, c.choices[params.options[c.name]]) for c in report.filters if params.options.get(c.name)]
    return lines


def _drill_title(report: registry.Report, column) -> str:
    return column.drill.title or f"{report.title} · {column.header}明细"


@bp.route("/<code>/rows")
@require(SIGNED_IN)
def drill_rows(code: str):
    """The rows behind one number of the report, with the same filters and scope."""
    report, params, column, dims, sort, stmt = _drill(code)
    try:
        page = paginate(stmt, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    except ServiceError as error:
        _fail(error)
    return render("reports/drill_rows.html", "reports/_drill_rows.html", report=report, params=params, column=column,
                  page=page, args=_drill_args(params, column, dims, sort), shown=_drill_lines(report, params, dims),
                  columns=column.drill.columns, sort=sort,
                  title=_drill_title(report, column), scope_note=_scope_note(report),
                  home=report.back(params) if report.back else None,
                  rows=[[engine.display(col.value(item)) for col in column.drill.columns] for item in page.items],
                  back=url_for("reports.show_report", code=code, **params.args()))


@bp.route("/<code>/rows/export")
@require(SIGNED_IN)
def export_drill_rows(code: str):
    """The rows of one number exactly as the rows page lists them (filters, scope, order), as .xlsx (audited)."""
    report, params, column, dims, _sort, stmt = _drill(code)
    shown = {"期间": params.period_label, **dict(_drill_lines(report, params, dims))}
    return export_query(stmt, list(column.drill.columns), f"{params.period_label}{_drill_title(report, column)}",
                        shown, "report")


@bp.route("/<code>/archive", methods=["POST"])
@require(SIGNED_IN)
def archive_report(code: str):
    """Keep the report with the current filters in the archive now."""
    report = _report(code)
    _params(report)
    try:
        run = services.generate_run(code, request.args.to_dict(), user=me())
    except ServiceError as error:
        _fail(error)
    flash(f"已生成存档：{run.filename}。", "success")
    return htmx_redirect(url_for("reports.list_runs", code=code))


@bp.route("/archive")
@require(SIGNED_IN)
def list_runs():
    """Past runs of the reports this user may see, newest first, with their files."""
    allowed = {r.code: r for r in registry.all_reports() if has_permission(current_user, r.permission)}
    code = arg_choice("code", allowed)
    page = paginate(services.visible_runs(me(), code), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("reports/run_list.html", "reports/_run_rows.html", page=page, reports=allowed, code=code,
                  args={"code": code})


@bp.route("/archive/<int:run_id>")
@require(SIGNED_IN)
def download_run(run_id: int):
    """An archived file (its download is audited)."""
    try:
        run = services.open_run(run_id, me())
    except ServiceError as error:
        _fail(error)
    return send_xlsx(run.content, run.filename)
