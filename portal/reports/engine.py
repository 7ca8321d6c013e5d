"""Running a declared report: restrict its one query, aggregate in the database, total, compare, format.

`run(report, params, user)` is what the page, the export and the archive job share, so the file
is exactly what the page shows. `user` None is the system (a schedule): it sees every row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import or_, select

from portal.core.scoping import scope_query
from portal.core.service import ServiceError
from portal.extensions import db

from .params import COMPARE_HEADERS, COMPARES, Params
from .registry import Column, Report


def scope_by_department(stmt, column, user, permission):
    """The departments `user` may see for `permission` (core.scoping.scope_query)."""
    return scope_query(stmt, column, user.principal, permission)


def sees_everything(report: Report, user) -> bool:
    """May this user open the hospital-wide result (an archived run of a schedule)?"""
    if user is None:
        return True
    if report.sees_everything is not None:
        return report.sees_everything(user)
    return user.principal.departments_for(report.permission) is None


def department_subtree(department_id: int):
    """The department and every department below it (wards of a department, departments of a division)."""
    from portal.auth.models import Department

    dept = db.session.get(Department, department_id)
    if dept is None:
        raise ServiceError("所选科室不存在。", field="department_id", status=400)
    below = Department.path.startswith(f"{dept.path}{dept.id}/", autoescape=True)
    return select(Department.id).where(or_(Department.id == dept.id, below))


def restrict(report: Report, stmt, params: Params, user):
    """The report's filters and scope on a select (the report's query or a drill-down's rows)."""
    if report.date_column is not None:
        stmt = stmt.where(report.date_column.between(params.start, params.end))
    if params.department_id:
        stmt = stmt.where(report.department_column.in_(department_subtree(params.department_id)))
    for choice in report.filters:
        value = params.options.get(choice.name)
        if value:
            stmt = choice.apply(stmt, value) if choice.apply else stmt.where(choice.column == value)
    if user is None:
        return stmt
    if report.scope is not None:
        return report.scope(stmt, user, report.permission)
    return scope_by_department(stmt, report.department_column, user, report.permission)


def _number(value):
    if value is None:
        return None
    if isinstance(value, (int, Decimal)):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _ratio(numerator, denominator):
    if not denominator:
        return None
    return Decimal(numerator or 0) / Decimal(denominator)


def whole_months(params: Params) -> int:
    """How many calendar months the period covers exactly (0 when it starts or ends inside a month)."""
    if params.start.day != 1 or (params.end + timedelta(days=1)).day != 1:
        return 0
    return (params.end.year - params.start.year) * 12 + params.end.month - params.start.month + 1


def rolled_up(report: Report, params: Params) -> bool:
    """Whether the period reads the report's summary tables (whole months, no department filter)."""
    rollup = report.rollup
    return rollup is not None and whole_months(params) >= max(rollup.min_months, 1) and not params.department_id


def statement(report: Report, params: Params, user):
    """The report's restricted query; its summary table's where that gives identical results (whole months)."""
    if rolled_up(report, params):
        return report.rollup.query(params, user)
    return restrict(report, report.query(params), params, user)


def fetch(report: Report, params: Params, user) -> tuple[list[dict], dict]:
    """The rows of one period and their totals: one grouped query, plus one ungrouped for "query" totals."""
    stmt = statement(report, params, user)
    result = db.session.execute(stmt)
    keys = list(result.keys())
    # Column by column (a report by person has thousands of rows): only a column holding floats is converted.
    columns = list(zip(*result.all(), strict=True)) or [() for _ in keys]
    columns = [list(map(_number, col)) if any(type(v) is float for v in col) else col for col in columns]
    rows = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
    by_key = dict(zip(keys, columns, strict=True))
    selected = stmt.selected_columns
    dimension_keys = {c.key for c in report.dimensions}
    totals: dict[str, Any] = {}
    selected_keys = list(selected.keys())
    for key in selected_keys:
        if key not in dimension_keys:
            totals[key] = sum(v for v in by_key.get(key, ()) if isinstance(v, (int, Decimal)))
    again = [c.key for c in report.measures if c.total == "query" and not c.ratio]
    if again:
        total_stmt = None
        if rolled_up(report, params) and report.rollup.totals is not None:
            total_stmt = report.rollup.totals(params, user)
        if total_stmt is None:
            total_stmt = (stmt.with_only_columns(*(selected[k] for k in again), maintain_column_froms=True)
                          .group_by(None).order_by(None))
        found = db.session.execute(total_stmt).mappings().first() or {}
        totals.update({k: _number(found.get(k)) or 0 for k in again})
    for col in report.measures:
        if col.ratio:
            for row in rows:
                row[col.key] = _ratio(row.get(col.ratio[0]), row.get(col.ratio[1]))
            totals[col.key] = _ratio(totals.get(col.ratio[0]), totals.get(col.ratio[1]))
        if col.total is None:
            totals[col.key] = None
    return rows, totals


@dataclass(frozen=True)
class Shown:
    """A column as shown: a declared column, or one of its comparison columns."""

    key: str
    header: str
    fmt: str  # the declared formats, plus "change" (relative, signed) and "points" (percentage points)
    column: Column
    role: str = "value"  # value | before | change
    width: int = 14

    @property
    def numeric(self) -> bool:
        return self.fmt != "text"


@dataclass(frozen=True)
class Cell:
    value: Any
    text: str
    url: str | None = None


@dataclass
class Result:
    report: Report
    params: Params
    columns: list[Shown]
    rows: list[dict]
    totals: dict
    labels: dict[str, dict] = field(default_factory=dict)
    grid: list[list[Cell]] = field(default_factory=list)
    total_cells: list[Cell] = field(default_factory=list)
    page: Any = None  # portal.core.listing.Page of the rows shown (reports with a page size), else None
    shown: list[dict] | None = None  # the rows of `grid` (all rows unless paged)
    derived: dict = field(default_factory=dict)  # what pages build from the result alone (derive)

    def derive(self, name: str, build):
        """`build()` once per result: a kept result is shared, so the table's HTML and the chart's data built for
        one request serve the next ones (build depends on the result only, never on the request)."""
        found = self.derived.get(name)
        if found is None:
            found = self.derived[name] = build()
        return found

    @property
    def compare_label(self) -> str:
        return COMPARES.get(self.params.compare, "")

    def filter_lines(self, department_name: str = "") -> list[tuple[str, str]]:
        """The filters as (label, value) pairs: printed in the page header and in the file's title lines."""
        lines = [("期间", self.params.period_label)]
        if department_name:
            lines.append(("科室", department_name))
        for choice in self.report.filters:
            value = self.params.options.get(choice.name)
            if value:
                lines.append((choice.label, choice.choices[value]))
        if self.params.compare:
            lines.append(("对比", self.compare_label))
        return lines

    def chart_data(self) -> dict | None:
        """What charts.js draws (and the export's native chart): categories and one series per column."""
        chart = self.report.chart
        rows = self.rows if self.shown is None else self.shown
        if chart is None or not rows:
            return None
        x = chart.x
        categories = [self.label(x, row.get(x)) for row in rows]
        series = []
        for key in chart.y[:1] if chart.type == "pie" else chart.y:
            col = self.report.column(key)
            values = [_plain(row.get(key), col.fmt) for row in rows]
            series.append({"name": col.header, "data": values, "fmt": col.fmt})
        return {"type": chart.type, "title": self.report.title, "categories": categories, "series": series}

    def label(self, key: str, value) -> str:
        return label_of(self.report, self.labels, key, value)


def label_of(report: Report, labels: dict, key: str, value) -> str:
    """The text shown for a raw value of a text column ("phone_followup" -> 电话随访, 7 -> 李个管)."""
    if value is None or value == "":
        return report.column(key).blank or "—"
    return labels.get(key, {}).get(value, str(value))


def _plain(value, fmt: str):
    """A number as JSON for the chart: percents in percent (12.3), money and decimals as floats."""
    if value is None:
        return None
    if fmt == "percent":
        return float((Decimal(value) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP))
    if isinstance(value, Decimal):
        return float(value)
    return value


def format_value(value, fmt: str) -> str:
    """Numbers as the hospital writes them: 1,234 · 1,234.50 · 12.3% · ¥12,345.00 · +12.5% · +1.2 个百分点."""
    if value is None:
        return "—"
    if fmt == "text":
        return str(value)
    number = Decimal(value)
    if fmt == "int":
        return f"{number.quantize(Decimal(1), ROUND_HALF_UP):,}"
    if fmt == "decimal":
        return f"{number.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"
    if fmt == "money":
        return f"¥{number.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"
    if fmt == "percent":
        return f"{(number * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"
    if fmt == "change":
        return f"{(number * 100).quantize(Decimal('0.1'), ROUND_HALF_UP):+}%"
    if fmt == "points":
        return f"{(number * 100).quantize(Decimal('0.1'), ROUND_HALF_UP):+} 个百分点"
    raise ValueError(fmt)


def display(value) -> str:
    """A drill-down cell as text: dates as 2026-11-23, times in Beijing time, yes/no in Chinese."""
    from datetime import date, datetime

    from portal.core.timeutil import format_datetime

    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    return str(value)


def shown_columns(report: Report, compare: str) -> list[Shown]:
    out = []
    for col in report.columns:
        out.append(Shown(col.key, col.header, col.fmt, col, width=col.width))
        if compare and not col.is_dimension and col.compare:
            out.append(Shown(f"{col.key}__before", f"{col.header}（{COMPARE_HEADERS[compare]}）", col.fmt, col,
                             "before", col.width))
            out.append(Shown(f"{col.key}__change", f"{col.header}（增减）",
                             "points" if col.fmt == "percent" else "change", col, "change", col.width))
    return out


def _change(now, before, fmt: str):
    if now is None or before is None:
        return None
    if fmt == "percent":
        return Decimal(now) - Decimal(before)
    if not before:
        return None
    return (Decimal(now) - Decimal(before)) / Decimal(before)


def _merge(report: Report, rows: list[dict], totals: dict, before_rows: list[dict], before_totals: dict
           ) -> tuple[list[dict], dict]:
    """Put the compared period beside each row (matched by the text columns); rows only in it are added."""
    keys = [c.key for c in report.dimensions]
    measures = report.compared

    def key_of(row):
        return tuple(row.get(k) for k in keys)

    earlier = {key_of(r): r for r in before_rows}
    seen = set()
    merged = []
    for row in rows:
        seen.add(key_of(row))
        merged.append(row)
    for row in before_rows:
        if key_of(row) not in seen:
            blank = {k: row.get(k) for k in keys}
            blank.update({c.key: (None if c.ratio else 0) for c in report.measures})
            merged.append(blank)
    for row in merged:
        then = earlier.get(key_of(row), {})
        for col in measures:
            before = then.get(col.key, None if col.ratio else 0)
            row[f"{col.key}__before"] = before
            row[f"{col.key}__change"] = _change(row.get(col.key), before, col.fmt)
    for col in measures:
        totals[f"{col.key}__before"] = before_totals.get(col.key)
        totals[f"{col.key}__change"] = _change(totals.get(col.key), before_totals.get(col.key), col.fmt)
    return merged, totals


def labels_for(report: Report, rows: list[dict]) -> dict[str, dict]:
    out = {}
    for col in report.dimensions:
        if col.labels is None:
            continue
        if isinstance(col.labels, Mapping):
            out[col.key] = dict(col.labels)
        else:
            values = sorted({r.get(col.key) for r in rows if r.get(col.key) not in (None, "")}, key=str)
            out[col.key] = dict(col.labels(values)) if values else {}
    return out


def _drill_base(report: Report, col: Column, params: Params) -> str:
    """The drill URL of a column without the row's keys, built once a request: a report of a hundred rows links
    every number, and building each URL through the router cost most of such a page's time."""
    from flask import g, url_for

    bases = g.setdefault("report_drill_bases", {})
    found = bases.get((report.code, col.key, id(params)))
    if found is None or found[0] is not params:  # the params object is kept, so its id is not reused
        found = (params, url_for("reports.drill_rows", code=report.code, column=col.key, **params.args(compare=None)))
        bases[(report.code, col.key, id(params))] = found
    return found[1]


def drill_url(report: Report, col: Column, row: Mapping | None, params: Params, keys: str | None = None
              ) -> str | None:
    """The URL of the rows behind one number (row None: the totals row, every row of the period). `keys`: the
    row's encoded keys (``row_keys``), when the caller links several numbers of one row."""
    if col.drill is None:
        return None
    if col.drill.url is not None:
        return col.drill.url(row if row is not None else {}, params)
    base = _drill_base(report, col, params)
    if row is None:
        return base
    keys = row_keys(report, row) if keys is None else keys
    return base + "&" + keys if keys else base


def row_keys(report: Report, row: Mapping) -> str:
    """A row's dimension values as the drill URL's keys, encoded as the router encodes query arguments (so the URL
    is the same as url_for(..., **keys)); the same for every number of the row, so encoded once a row."""
    from urllib.parse import urlencode

    return urlencode([(f"k_{d.key}", "" if row.get(d.key) is None else row.get(d.key)) for d in report.dimensions],
                     safe="!$'()*,/:;?@")


def run(report: Report, params: Params, user, links: bool = True, page: int | None = None) -> Result:
    """The report for one set of filters as the page shows it (and the file holds it).

    `page` (the page, for a report with a page size): only that page's rows get labels, cells and links; the
    totals are still those of every row. None: every row (the export and the archive).
    A report declaring `cache` (registry.ResultCache) answers from this worker's copy while its generation is
    unchanged; a kept Result is shared between requests and never changed after it is built.
    """
    cache = report.cache
    if cache is None:
        return _run(report, params, user, links, page)
    from portal.core.workercache import worker_cache

    generation = cache.generation()  # before the rows: a write committed later always moves it on
    key = _cache_key(report, params, user, links, page)
    kept = worker_cache(f"report_results:{report.code}", cache.size)
    found = kept.get(generation, key)
    if found is None:
        found = _run(report, params, user, links, page)
        kept.put(generation, key, found)
    return found


def _cache_key(report: Report, params: Params, user, links: bool, page: int | None) -> tuple:
    """Everything a result depends on besides the generation: the filters, the page, the user's scope, today."""
    from portal.core.timeutil import local_today

    cache = report.cache
    if user is None:
        scope = ("system",)  # a schedule sees every row
    elif cache.scope is not None:
        scope = ("declared", cache.scope(user))
    else:
        scope = ("departments", user.principal.departments_for(report.permission))
    return (params.start, params.end, params.month, params.department_id, tuple(sorted(params.options.items())),
            params.compare, page if report.page_size else None, links, scope, local_today(),
            cache.key(params) if cache.key is not None else None)


def _run(report: Report, params: Params, user, links: bool, page: int | None) -> Result:
    from portal.core.listing import Page

    rows, totals = fetch(report, params, user)
    if params.compare:
        before_rows, before_totals = fetch(report, params.shifted(params.compare), user)
        rows, totals = _merge(report, rows, totals, before_rows, before_totals)
    page_rows, paged = rows, None
    if page is not None and report.page_size:
        size = report.page_size
        number = min(max(page, 1), max(1, -(-len(rows) // size)))  # past the last page: the last page
        page_rows = rows[(number - 1) * size:number * size]
        paged = Page([], number, size, len(rows))
    result = Result(report, params, shown_columns(report, params.compare), rows, totals,
                    labels_for(report, page_rows), page=paged, shown=page_rows)
    for row in page_rows:
        keys = row_keys(report, row) if links else ""
        result.grid.append([_cell(result, shown, row, links, keys) for shown in result.columns])
    result.total_cells = [_total_cell(result, shown, links) for shown in result.columns]
    return result


def _cell(result: Result, shown: Shown, row: dict, links: bool, keys: str) -> Cell:
    value = row.get(shown.key)
    if shown.fmt == "text":
        return Cell(value, result.label(shown.key, value))
    url = None
    if links and shown.role == "value" and value:
        url = drill_url(result.report, shown.column, row, result.params, keys)
    return Cell(value, format_value(value, shown.fmt), url)


def _total_cell(result: Result, shown: Shown, links: bool) -> Cell:
    if shown.fmt == "text":
        first = shown.key == result.report.columns[0].key
        return Cell("合计" if first else None, "合计" if first else "")
    value = result.totals.get(shown.key)
    if shown.column.total is None:
        return Cell(None, "")
    url = None
    if links and shown.role == "value" and value:
        url = drill_url(result.report, shown.column, None, result.params)
    return Cell(value, format_value(value, shown.fmt), url)
