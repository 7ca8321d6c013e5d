"""The matrix of departments x months (filters by division and year, totals, completion rates, Excel export)
and the phone view of one department's row."""

from __future__ import annotations

from datetime import date

from flask import abort, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from portal.core.listing import arg_int
from portal.core.months import month_label
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.timeutil import local_today
from portal.io.export import Column, export_rows

from .. import VIEW, bp
from ..common import department_or_404
from ..models import CELL_BADGE, CELL_STATES
from . import queries

_ID, _MONTH = 987654321, "MONTH"  # placeholders: url_for once, then the pattern per cell


def _filters() -> tuple[int, int | None, dict]:
    year = arg_int("year", local_today().year)
    if not 2000 <= year <= 2199:
        abort(400, "年份应在 2000–2199 之间。")
    division = arg_int("division")
    return year, division, {"year": year, "division": division or ""}


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def month_link_pattern() -> str:
    """The address of a department-month with {department} and {month} to fill in (url_for per cell is a
    tenth of the page's time on a thousand cells)."""
    return url_for("study.department_month", department_id=_ID, month=_MONTH).replace(
        str(_ID), "{department}").replace(_MONTH, "{month}")


def grid(result: queries.Matrix, year: int) -> list[tuple]:
    """The table's rows as plain values: (department, its year's address, cells, rate); a cell is (address,
    label, badge), badge None for a month not yet due without a plan (shown as a dash)."""
    pattern = month_link_pattern()
    row_link = url_for("study.department_row", department_id=_ID, year=year).replace(str(_ID), "{department}")
    months = [f"{m:%Y-%m}" for m in result.months]
    due = len(result.due_months())
    out = []
    for row in result.rows:
        dept = row.department.id
        cells = [(pattern.format(department=dept, month=text), CELL_STATES[cell.state],
                  CELL_BADGE[cell.state] if cell.month <= result.upto or cell.state != "none" else None)
                 for text, cell in zip(months, row.cells, strict=True)]
        out.append((row.department, row_link.format(department=dept), cells,
                    _percent(row.complete(result.upto) / due if due else None)))
    return out


@bp.route("")
@require(VIEW)
def matrix():
    """Departments x months of a year, each cell's state linking to the department-month."""
    year, division, args = _filters()
    result = _year(year, division)
    # The content is the same for every request that finds this matrix kept (its key holds the filters): rendered
    # once, then only the layout around it per request. Keyed by the script root its addresses start with.
    body = result.derive(("page", request.script_root), lambda: Markup(render_template(
        "study/_matrix.html", matrix=result, grid=grid(result, year), year=year, division=division, args=args,
        divisions=queries.divisions(), states=CELL_STATES, percent=_percent)))
    return render("study/matrix.html", body=body)


def _year(year: int, division: int | None = None, department_id: int | None = None) -> queries.Matrix:
    return queries.kept_build(current_user.principal, date(year, 1, 1), date(year, 12, 1), division, department_id,
                              local_today())


@bp.route("/export")
@require(VIEW)
def export_matrix():
    """The matrix exactly as filtered, one row per department, as .xlsx."""
    year, division, args = _filters()
    result = _year(year, division)
    columns = [Column("科室", lambda r: r.department.name, 18)]
    for index, month in enumerate(result.months):
        columns.append(Column(month_label(month), lambda r, i=index: r.cells[i].label, 12))
    columns.append(Column("已完成月数", lambda r: r.complete(result.upto), 10))
    due = len(result.due_months())
    columns.append(Column("完成率", lambda r: _percent(r.complete(result.upto) / due if due else None), 10))
    return export_rows(result.rows, columns, f"业务学习完成情况{year}", args, "study_plan")


@bp.route("/departments/<int:department_id>")
@require(VIEW)
def department_row(department_id: int):
    """One department's year as a column of month cards: the view for the phone."""
    dept = department_or_404(department_id, VIEW)
    year, _, _ = _filters()
    result = _year(year, department_id=dept.id)
    row = result.rows[0] if result.rows else queries.MatrixRow(dept, [])
    return render("study/department_row.html", dept=dept, row=row, year=year, matrix=result, percent=_percent)
