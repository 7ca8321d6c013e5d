"""Report declarations: what a report is, checked once when it is registered.

A report is data: a title, the permission it needs, its filters, ONE aggregating select, its columns
(Chinese headers, formats, totals, drill-downs), an optional chart and the definition shown on the page.
The registry (`engine`, `views`, `excel`, `services`) turns a declaration into the page, the htmx
partial, the Excel export, the print and phone layouts, period comparisons and the archive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORMATS = ("text", "int", "decimal", "percent", "money")
DIMENSION_FORMATS = ("text",)
CHART_TYPES = ("bar", "line", "pie")
TOTALS = ("sum", "query", "ratio", None)
PERIODS = ("month", "range")
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
RESERVED_ARGS = {"month", "date_from", "date_to", "department_id", "compare", "page", "column"}


class ReportDeclarationError(ValueError):
    """A declaration that names something that is not there: raised at registration, never at request time."""


@dataclass(frozen=True)
class Drill:
    """Where a number leads: a URL builder, or a query of the rows behind it shown by the registry.

    `url(row, params)` returns the URL of an existing list holding those rows with the same filters
    (or None where there is no such list). `rows(params, row)` returns a select of ORM rows; the
    registry restricts it with the report's period, department, own filters and scope, paginates it
    and shows `columns` (portal.io.export.Column) on `/reports/<code>/rows`.
    """

    url: Callable[[Mapping[str, Any], Any], str | None] | None = None
    rows: Callable[[Any, Mapping[str, Any]], Any] | None = None
    columns: Sequence[Any] = ()
    title: str = ""  # the rows page's heading (default: "<report> · <column>明细")
    # ({sort key: column}, default key, tiebreak column): `?sort=key` / `?sort=-key` on the rows page and its export
    sort: tuple[Mapping[str, Any], str, Any] | None = None
    sort_headers: Mapping[str, str] | None = None  # {column header: sort key}: headers that sort when clicked


@dataclass(frozen=True)
class Column:
    """One column of the table: `key` is a labelled column of the query (or, for a ratio, computed)."""

    key: str
    header: str
    fmt: str = "int"  # text | int | decimal | percent | money
    total: str | None = "sum"  # sum of the rows | query (re-aggregated in the database) | ratio | None
    ratio: tuple[str, str] | None = None  # percent columns: (numerator key, denominator key)
    labels: Mapping[Any, str] | Callable[[list], Mapping[Any, str]] | None = None  # text shown for a raw value
    blank: str = ""  # label of an empty dimension value ("未分配")
    key_type: type = str  # a text column's raw values (int for ids): drill-down URLs carry them
    drill: Drill | None = None
    compare: bool = True  # numbers get comparison columns when compare=yoy|prev
    width: int = 14

    @property
    def is_dimension(self) -> bool:
        return self.fmt in DIMENSION_FORMATS


@dataclass(frozen=True)
class Choice:
    """A report's own enumerated filter: `?name=value`, one of `choices`, applied to `column` (or by `apply`)."""

    name: str
    label: str
    choices: Mapping[str, str]
    column: Any = None
    apply: Callable[[Any, str], Any] | None = None
    blank: str = "全部"


@dataclass(frozen=True)
class Chart:
    type: str  # bar | line | pie
    x: str  # the dimension column along the axis (or the slices)
    y: tuple[str, ...]  # measure columns drawn (a pie draws the first)


@dataclass(frozen=True)
class Rollup:
    """Summary tables that answer a report's query with identical results, for periods of whole months.

    `query(params, user)` selects the same labelled columns as the report's query, from summary tables kept
    current by the writes, with the period, the report's own filters and the user's scope applied (user None:
    the system, which sees everything). The report's query stays the definition: a period that is not whole
    months, or a department filter, reads it, and so do the drill-down rows.
    """

    query: Callable[[Any, Any], Any]
    min_months: int = 2  # a shorter period reads the report's query (one month is cheap on the ledger's index)
    # Optional: (params, user) -> a select of the "query" totals (labelled as the columns), or None for the usual
    # (the rolled-up query without its grouping); for a distinct count that is cheaper counted another way.
    totals: Callable[[Any, Any], Any] | None = None


@dataclass(frozen=True)
class ResultCache:
    """Keep a report's computed result in each worker while a generation read from the database is unchanged.

    `generation()` returns the value of a generation row that database triggers move in the transaction of every
    write the result depends on (its rows, its labels); it is read before the rows. The engine keys a result by
    the filters, the page, the user's scope and today's date (a period in progress counts up to today), so a
    result is never shown to a user whose scope differs or on another day. `scope(user)` is what of the user the
    rows depend on: by default the departments the report's permission reaches (``departments_for``); a report
    whose `scope` reads anything else about the user must declare it. `key(params)`: anything else the result
    depends on (default: nothing).
    """

    generation: Callable[[], int | None]
    scope: Callable[[Any], Hashable] | None = None
    key: Callable[[Any], Hashable] | None = None
    size: int = 256  # results kept per worker and report (a result of a hundred rows is some tens of KB)


@dataclass(frozen=True)
class Report:
    code: str
    title: str
    permission: Any  # portal.core.permissions.Permission
    query: Callable[[Any], Any]  # Params -> Select with a labelled column per non-ratio Column.key
    columns: tuple[Column, ...]
    definition: str  # shown under the title: what is counted, numerator and denominator of indicators
    date_column: Any = None  # the period applies to it
    department_column: Any = None  # the department filter and the department scope apply to it
    # (select, user or None for the system, permission) -> select. Default: department scope on department_column.
    scope: Callable[[Any, Any, Any], Any] | None = None
    # Does this user see every row (so may open hospital-wide archived runs)? Default: department scope is "all".
    sees_everything: Callable[[Any], bool] | None = None
    filters: tuple[Choice, ...] = ()
    chart: Chart | None = None
    period: str = "month"  # month: a month picker (a date range is accepted too); range: dates first
    department_filter: bool = True
    group: str = "报表"
    archive: str | None = None  # "monthly": the scheduled job archives last month on the 1st
    empty: str = "该期间没有数据。"
    summary: str = ""  # one line for the list of reports (default: the definition's first line)
    # (Params) -> (label, URL) of the page the report belongs to (a dashboard): linked from the report and its rows
    back: Callable[[Any], tuple[str, str]] | None = None
    note: Callable[[Any], str] | None = None
    # A form to be signed: signature lines under the table; its file then also carries the note and definition
    signatures: tuple[str, ...] = ()  # (Result) -> a line shown above the table (e.g. "超过定额 2 名")
    rollup: Rollup | None = None  # a summary table for whole-month periods (and five-year ranges)
    # A row per person (thousands): the page shows this many rows at a time (`?page=`); totals, the export and the
    # archive hold every row.
    page_size: int | None = None
    # Each worker keeps computed results while a generation is unchanged (see ResultCache); None: every run reads.
    cache: ResultCache | None = None

    def column(self, key: str) -> Column:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(key)

    @property
    def dimensions(self) -> list[Column]:
        return [c for c in self.columns if c.is_dimension]

    @property
    def measures(self) -> list[Column]:
        return [c for c in self.columns if not c.is_dimension]

    @property
    def compared(self) -> list[Column]:
        return [c for c in self.measures if c.compare]


REPORTS: dict[str, Report] = {}


def _fail(report: Report, message: str):
    raise ReportDeclarationError(f"报表 {report.code}: {message}")


def validate(report: Report) -> None:
    """Every name in the declaration must exist: columns in the query, chart and ratio columns, filters."""
    from .params import Params

    if not CODE_PATTERN.fullmatch(report.code):
        _fail(report, "code must be lower_snake_case")
    if not report.title or not report.definition:
        _fail(report, "title and definition are required")
    if report.period not in PERIODS:
        _fail(report, f"unknown period {report.period!r}")
    if report.archive not in (None, "monthly"):
        _fail(report, f"unknown archive schedule {report.archive!r}")
    if report.scope is None and report.department_column is None:
        _fail(report, "a report is scoped: declare department_column or scope")
    if report.department_filter and report.department_column is None:
        _fail(report, "the department filter needs department_column")
    keys = [c.key for c in report.columns]
    if len(set(keys)) != len(keys):
        _fail(report, "column keys repeat")
    if not report.dimensions or not report.measures:
        _fail(report, "a report needs at least one text column and one number column")
    names = [f.name for f in report.filters]
    if len(set(names)) != len(names) or RESERVED_ARGS & set(names):
        _fail(report, "filter names repeat or take a reserved name")
    for choice in report.filters:
        if choice.column is None and choice.apply is None:
            _fail(report, f"filter {choice.name} has neither column nor apply")
    stmt = report.query(Params.default(report))
    selected = set(stmt.selected_columns.keys())
    if report.rollup is not None:
        rolled = list(report.rollup.query(Params.default(report), None).selected_columns.keys())
        if rolled != list(stmt.selected_columns.keys()):
            _fail(report, f"the summary query selects {', '.join(rolled)}, not the report query's columns")
    for col in report.columns:
        if col.fmt not in FORMATS:
            _fail(report, f"column {col.key}: unknown format {col.fmt!r}")
        if col.total not in TOTALS:
            _fail(report, f"column {col.key}: unknown total {col.total!r}")
        if col.ratio:
            if col.fmt != "percent":
                _fail(report, f"column {col.key}: a ratio is a percent")
            for ref in col.ratio:
                if ref not in selected:
                    _fail(report, f"column {col.key}: ratio names missing column {ref}")
        elif col.key not in selected:
            _fail(report, f"column {col.key} is not in the query (it has {', '.join(sorted(selected))})")
        if col.total == "ratio" and not col.ratio:
            _fail(report, f"column {col.key}: total 'ratio' needs ratio=(numerator, denominator)")
        if col.is_dimension and col.total not in (None, "sum"):
            _fail(report, f"column {col.key}: a text column has no total")
        if col.drill and col.drill.url is None and col.drill.rows is None:
            _fail(report, f"column {col.key}: a drill-down needs url or rows")
        if col.drill and col.drill.rows is not None and not col.drill.columns:
            _fail(report, f"column {col.key}: a drill-down query needs its columns")
        if col.drill and col.drill.sort and col.drill.sort[1] not in col.drill.sort[0]:
            _fail(report, f"column {col.key}: the drill-down's default sort is not one of its sorts")
        if col.drill and col.drill.sort_headers and (
                not col.drill.sort or not set(col.drill.sort_headers.values()) <= set(col.drill.sort[0])
                or not set(col.drill.sort_headers) <= {c.header for c in col.drill.columns}):
            _fail(report, f"column {col.key}: a sortable header names a column or sort that is not there")
    if report.chart:
        if report.chart.type not in CHART_TYPES:
            _fail(report, f"unknown chart type {report.chart.type!r}")
        if report.chart.x not in keys or not report.column(report.chart.x).is_dimension:
            _fail(report, f"chart x {report.chart.x!r} is not a text column")
        if not report.chart.y:
            _fail(report, "chart draws no column")
        for key in report.chart.y:
            if key not in keys or report.column(key).is_dimension:
                _fail(report, f"chart column {key!r} is not a number column")


def register(report: Report) -> Report:
    """Add a declaration to the registry; a wrong declaration fails here, at import time."""
    existing = REPORTS.get(report.code)
    if existing is not None and existing.title != report.title:  # the same title: the module was imported again
        raise ReportDeclarationError(f"报表 {report.code} 重复登记")
    validate(report)
    REPORTS[report.code] = report
    return report


def get(code: str) -> Report | None:
    return REPORTS.get(code)


def all_reports() -> list[Report]:
    return sorted(REPORTS.values(), key=lambda r: (r.group, r.title))

