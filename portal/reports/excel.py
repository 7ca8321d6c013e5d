"""A report's workbook: exactly the table the page shows (totals and comparison columns included),
written by io.export's audited writer, with a native Excel chart where the report declares one."""

from __future__ import annotations

from decimal import Decimal

from openpyxl.chart import BarChart, LineChart, PieChart, Reference

from portal.io.export import Column as SheetColumn
from portal.io.export import text_cell, write_audited, write_xlsx

from .engine import Result

NUMBER_FORMATS = {
    "int": "#,##0",
    "decimal": "#,##0.00",
    "money": '"¥"#,##0.00',
    "percent": "0.0%",
    "change": "+0.0%;-0.0%;0.0%",
    "points": '+0.0" 个百分点";-0.0" 个百分点";0.0" 个百分点"',
}


def _value(cell, fmt: str):
    if cell.value is None:
        return None
    if fmt == "text":
        return cell.text
    if fmt == "points":
        return Decimal(cell.value) * 100
    return cell.value


def sheet_columns(result: Result) -> list[SheetColumn]:
    return [SheetColumn(shown.header, (lambda cells, i=i, fmt=shown.fmt: _value(cells[i], fmt)),
                        max(shown.width, len(shown.header) * 2 + 2), NUMBER_FORMATS.get(shown.fmt))
            for i, shown in enumerate(result.columns)]


def sheet_rows(result: Result) -> list[list]:
    return [*result.grid, result.total_cells]


def add_chart(result: Result):
    """A `finish` hook for the writer: the declared chart over the rows (not the totals), beside the table."""
    chart_decl = result.report.chart
    if chart_decl is None or not result.rows:
        return None
    positions = {shown.key: index for index, shown in enumerate(result.columns, start=1)}

    def finish(ws, header_row: int, last_row: int) -> None:
        data_end = last_row - 1  # the last row is the totals row
        if data_end <= header_row:
            return
        if chart_decl.type == "pie":
            chart = PieChart()
            keys = chart_decl.y[:1]
        else:
            chart = BarChart() if chart_decl.type == "bar" else LineChart()
            keys = chart_decl.y
            chart.y_axis.title = "、".join(result.report.column(k).header for k in keys)
            chart.x_axis.title = result.report.column(chart_decl.x).header
        chart.title = result.report.title
        chart.height, chart.width = 9, 18
        for key in keys:
            col = positions[key]
            chart.add_data(Reference(ws, min_col=col, max_col=col, min_row=header_row, max_row=data_end),
                           titles_from_data=True)
        x = positions[chart_decl.x]
        chart.set_categories(Reference(ws, min_col=x, max_col=x, min_row=header_row + 1, max_row=data_end))
        ws.add_chart(chart, f"{_letter(len(result.columns) + 2)}{header_row}")

    return finish


def form_lines(result: Result) -> list[str]:
    """What a form (a report with signature lines) carries under its table: note, definition, signatures."""
    report = result.report
    if not report.signatures:
        return []
    note = report.note(result) if report.note else ""
    return [*([note] if note else []), f"统计口径：{report.definition}", "",
            *(f"{signer}：________________　　日期：________________" for signer in report.signatures)]


def finish_of(result: Result):
    """The writer's `finish` hook: the declared chart, then a form's lines under the table."""
    chart, lines = add_chart(result), form_lines(result)
    if chart is None and not lines:
        return None

    def finish(ws, header_row: int, last_row: int) -> None:
        if chart is not None:
            chart(ws, header_row, last_row)
        for line in ["", *lines] if lines else []:
            ws.append([text_cell(ws, line)] if line else [])

    return finish


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def filters_of(result: Result, department_name: str = "") -> dict[str, str]:
    return dict(result.filter_lines(department_name))


def report_xlsx(result: Result, department_name: str = "") -> bytes:
    """The workbook of what the page shows, audited as an export of this report with its filters."""
    return write_audited(sheet_columns(result), sheet_rows(result), result.report.title,
                         filters_of(result, department_name), "report", finish_of(result))


def report_sheet_xlsx(result: Result, title_lines: list[str]) -> bytes:
    """The same workbook without an audit record (the archive audits its own generation)."""
    return write_xlsx(sheet_columns(result), sheet_rows(result), result.report.title, title_lines,
                      finish_of(result))


def file_name(result: Result) -> str:
    return f"{result.report.title}_{result.params.period_key}.xlsx"
