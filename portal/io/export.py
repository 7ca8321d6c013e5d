"""Writing .xlsx exports: write-only mode, Chinese headers, typed cells, formulas neutralised.

`export_query` writes a list in the request. A list that may be big registers a builder with
`register_export` and its view calls `export_registered`: above EXPORT_JOB_ROWS rows the export runs
as a job (see `background`) and the user is notified with a download link.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from portal.core.timeutil import to_local

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]
    width: int = 14
    number_format: str | None = None


def neutralise(value: Any) -> Any:
    """For writers without styles: a text a spreadsheet would run as a formula gets an apostrophe
    (the importer drops it again). `write_xlsx` uses Excel's quote prefix instead, value unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def text_cell(ws, value: Any) -> WriteOnlyCell:
    """A cell for a write-only sheet: text stays text. Text that a spreadsheet would run as a formula (or read
    as an error value, or that begins with an apostrophe) carries Excel's quote prefix, its value unchanged,
    so the file opens safely and imports back as it was."""
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would take "=..." for a formula and "#N/A" for an error value
        if value.startswith((*FORMULA_PREFIXES, "'")) or value in ERROR_CODES:
            cell.quotePrefix = True
    return cell


def _cell_value(value: Any) -> Any:
    if isinstance(value, datetime):
        local = to_local(value) if value.tzinfo else value
        return local.replace(tzinfo=None)
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "是" if value else "否"
    if isinstance(value, (int, float, Decimal, date)) or value is None:
        return value
    return str(value)


def write_xlsx(columns: list[Column], rows: Iterable[Any], sheet_title: str = "数据",
               title_lines: list[str] | None = None, finish: Callable[[Any, int, int], None] | None = None) -> bytes:
    """Rows (objects or dicts) to an .xlsx in write-only mode, header frozen.

    `finish(ws, header_row, last_row)` runs after the rows (a report adds its native chart there); it needs
    openpyxl's sheet. Without it the rows are streamed by `xlsxstream` (same cells and styles, many times faster).
    """
    if finish is None:
        return write_xlsx_stream(columns, rows, sheet_title, title_lines)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31])
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    header_row = len(title_lines or []) + 1
    ws.freeze_panes = f"A{header_row + 1}"
    for line in title_lines or []:
        cell = text_cell(ws, line)
        cell.font = Font(bold=True)
        ws.append([cell])
    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDE6F5")
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=column.header)
        cell.font, cell.fill = header_font, header_fill
        cell.alignment = Alignment(vertical="center")
        header.append(cell)
    ws.append(header)
    last_row = header_row
    for row in rows:
        last_row += 1
        cells = []
        for column in columns:
            value = _cell_value(column.value(row))
            cell = text_cell(ws, value)
            if column.number_format:
                cell.number_format = column.number_format
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        ws.append(cells)
    if finish is not None:
        finish(ws, header_row, last_row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _typed_rows(columns: list[Column], rows: Iterable[Any]) -> Iterator[tuple[list[Any], list[str | None]]]:
    fixed = [column.number_format for column in columns]
    getters = [column.value for column in columns]
    for row in rows:
        values = [_cell_value(get(row)) for get in getters]
        formats = fixed
        for index, value in enumerate(values):
            if fixed[index] is None and isinstance(value, date):
                if formats is fixed:
                    formats = list(fixed)
                formats[index] = "yyyy-mm-dd hh:mm" if isinstance(value, datetime) else "yyyy-mm-dd"
        yield values, formats


def write_xlsx_stream(columns: list[Column], rows: Iterable[Any], sheet_title: str = "数据",
                      title_lines: list[str] | None = None) -> bytes:
    """`write_xlsx` without a `finish` hook: the rows rendered straight to the sheet's XML as they come."""
    from .xlsxstream import write_stream

    return write_stream([c.width for c in columns], [c.header for c in columns], _typed_rows(columns, rows),
                        sheet_title, list(title_lines or []))


def send_xlsx(content: bytes, filename: str) -> Response:
    response = Response(content, mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=export.xlsx; filename*=UTF-8''{quote(filename)}"
    )
    return response


EXPORT_LIMIT = 100_000


@dataclass(frozen=True)
class ExportSpec:
    """What an export writes: the query (already scoped and filtered), its columns and names."""

    stmt: Any  # a select of ORM rows
    columns: list[Column]
    name: str  # the list's Chinese name: title, sheet and file name
    entity_type: str  # for the audit record
    filters: dict = field(default_factory=dict)  # shown on the title line and kept in the audit record
    plain: bool = False  # stmt selects plain columns (rows by label), not ORM entities: the fast way for big lists


@dataclass(frozen=True)
class RegisteredExport:
    code: str
    # (the user, the list's query arguments) -> spec. In a job it runs inside a request context holding
    # those arguments, so a build may reuse its list's own argument parsers (portal.core.listing).
    build: Callable[[Any, dict[str, str]], ExportSpec]
    permission: Any  # the Permission the user needs, checked again when a job runs


# A job cannot carry a query or lambdas: it carries the export's code and the query arguments and
# rebuilds the same query here, with the user's own principal (so the same data scope).
EXPORTS: dict[str, RegisteredExport] = {}


def register_export(code: str, build: Callable[[Any, dict[str, str]], ExportSpec], permission) -> RegisteredExport:
    entry = RegisteredExport(code, build, permission)
    EXPORTS[code] = entry
    return entry


def count_rows(stmt) -> int:
    from sqlalchemy import func, select

    from portal.extensions import db

    return db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()


def too_many(total: int) -> str:
    return f"符合条件的记录有 {total} 条，超过单次导出上限 {EXPORT_LIMIT} 条，请缩小范围后再导出。"


def _counted(rows: Iterable[Any], progress: Callable[[int], None]) -> Iterator[Any]:
    from .reader import PROGRESS_EVERY

    done = 0
    for done, row in enumerate(rows, start=1):
        if done % PROGRESS_EVERY == 0:
            progress(done)
        yield row
    progress(done)


def write_export(spec: ExportSpec, progress: Callable[[int], None] | None = None) -> bytes:
    """Audit the export and write its file: in the request for small lists, in a job for big ones."""
    from portal.extensions import db

    stream = spec.stmt.execution_options(yield_per=2000)  # a server-side cursor: memory flat in the row count
    rows = db.session.execute(stream) if spec.plain else db.session.scalars(stream)
    try:
        return write_audited(spec.columns, _counted(rows, progress) if progress else rows, spec.name, spec.filters,
                             spec.entity_type)
    finally:
        rows.close()  # an abandoned streamed result must not keep its cursor (and snapshot) open


def write_audited(columns: list[Column], rows: Iterable[Any], name: str, filters: dict, entity_type: str,
                  finish: Callable[[Any, int, int], None] | None = None) -> bytes:
    """Any export's file: a title line with the hospital and the filters, then the rows; and its audit record.

    The rows are read to the end first, then the audit record is written: in a read request (a GET) in
    a short write transaction of its own (see `own_write_transaction`), so that a streaming read never
    turns into a write. A file is only handed out once its audit record is committed.
    """
    from flask import current_app

    from portal.core import audit
    from portal.core.labels import describe_filters
    from portal.extensions import own_write_transaction

    shown = describe_filters(filters, entity_type)  # 日期：2026-12-02，个案管理师：张三
    content = write_xlsx(columns, rows, name, [f"{current_app.config['HOSPITAL_NAME']} {name}", f"筛选条件：{shown}"],
                         finish)
    with own_write_transaction():
        audit.record("export", entity_type, "", label=f"{name}导出", changes={"filters": filters})
    return content


def export_rows(rows: Iterable[Any], columns: list[Column], name: str, filters: dict, entity_type: str) -> Response:
    """A computed table (a report, a summary) exported like a list: audited, titled, dated file name."""
    from portal.core.timeutil import local_today

    return send_xlsx(write_audited(columns, rows, name, filters, entity_type), f"{name}_{local_today():%Y%m%d}.xlsx")


def export_query(stmt, columns: list[Column], name: str, filters: dict, entity_type: str) -> Response:
    """A list exactly as filtered, as .xlsx; the export itself goes to the audit log with its filters.

    Always written in the request (up to EXPORT_LIMIT rows). Lists that may be big register with
    `register_export` and call `export_registered`, which hands big exports to a job.
    """
    from portal.core.listing import bad_request
    from portal.core.timeutil import local_today

    total = count_rows(stmt)
    if total > EXPORT_LIMIT:
        raise bad_request(too_many(total))
    content = write_export(ExportSpec(stmt, columns, name, entity_type, filters))
    return send_xlsx(content, f"{name}_{local_today():%Y%m%d}.xlsx")


def export_registered(code: str, args: Mapping[str, str]) -> Response:
    """A registered export for the signed-in user: the file at once, or, above EXPORT_JOB_ROWS, a job.

    `args` are the list's query arguments (request.args); the job rebuilds the query from them. The
    answer to a queued export is 202 with a partial for htmx, else a redirect to /exports/<id>.
    """
    from flask import abort, current_app, make_response, redirect, render_template, request, url_for
    from flask_login import current_user

    from portal.core.listing import bad_request
    from portal.core.permissions import has_permission
    from portal.core.service import ServiceError
    from portal.core.timeutil import local_today

    from . import background

    entry = EXPORTS[code]
    if not has_permission(current_user, entry.permission):
        abort(403)
    plain = {str(k): str(v) for k, v in args.items()}
    spec = entry.build(current_user, plain)
    total = count_rows(spec.stmt)
    if total > EXPORT_LIMIT:
        raise bad_request(too_many(total))
    if total <= current_app.config["EXPORT_JOB_ROWS"]:
        return send_xlsx(write_export(spec), f"{spec.name}_{local_today():%Y%m%d}.xlsx")
    try:
        job = background.start_export(code, plain, user_id=current_user.id, title=spec.name, rows=total)
    except ServiceError as error:
        abort(error.status, error.message)
    if request.headers.get("HX-Request"):
        return make_response(render_template("io/_export_job_progress.html", job=job, submitted=True), 202)
    return redirect(url_for("io.show_export", job_id=job.id), 303)
