"""Writing .xlsx exports: write-only mode, Chinese headers, typed cells, formulas neutralised."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
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
    """A text cell that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _cell_value(value: Any) -> Any:
    if isinstance(value, datetime):
        local = to_local(value) if value.tzinfo else value
        return local.replace(tzinfo=None)
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "是" if value else "否"
    if isinstance(value, (int, float, Decimal, date)) or value is None:
        return value
    return neutralise(str(value))


def write_xlsx(columns: list[Column], rows: Iterable[Any], sheet_title: str = "数据",
               title_lines: list[str] | None = None) -> bytes:
    """Rows (objects or dicts) to an .xlsx in write-only mode, header frozen."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31])
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    header_row = len(title_lines or []) + 1
    ws.freeze_panes = f"A{header_row + 1}"
    for line in title_lines or []:
        cell = WriteOnlyCell(ws, value=neutralise(line))
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
    for row in rows:
        cells = []
        for column in columns:
            value = _cell_value(column.value(row))
            cell = WriteOnlyCell(ws, value=value)
            if column.number_format:
                cell.number_format = column.number_format
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        ws.append(cells)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def send_xlsx(content: bytes, filename: str) -> Response:
    response = Response(content, mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=export.xlsx; filename*=UTF-8''{quote(filename)}"
    )
    return response


EXPORT_LIMIT = 100_000


def export_query(stmt, columns: list[Column], name: str, filters: dict, entity_type: str) -> Response:
    """A list exactly as filtered, as .xlsx; the export itself goes to the audit log with its filters."""
    from flask import current_app
    from sqlalchemy import func, select

    from portal.core import audit
    from portal.core.listing import bad_request
    from portal.core.timeutil import local_today
    from portal.extensions import db

    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    if total > EXPORT_LIMIT:
        raise bad_request(f"符合条件的记录有 {total} 条，超过单次导出上限 {EXPORT_LIMIT} 条，请缩小范围后再导出。")
    shown = "，".join(f"{k}={v}" for k, v in filters.items() if v) or "全部"
    audit.record("export", entity_type, "", label=f"{name}导出", changes={"filters": filters})
    content = write_xlsx(columns, db.session.scalars(stmt.execution_options(yield_per=1000)), name,
                         [f"{current_app.config['HOSPITAL_NAME']} {name}", f"筛选条件：{shown}"])
    return send_xlsx(content, f"{name}_{local_today():%Y%m%d}.xlsx")
