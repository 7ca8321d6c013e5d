"""Reading an uploaded .xlsx for import: refuse what is not a plain workbook, find the header, parse rows."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openpyxl import load_workbook

from .columns import CellError, ImportColumn, normalise_header

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HEADER_SCAN_ROWS = 10
PROGRESS_EVERY = 200  # rows between two progress reports: often enough for a bar, cheap for Redis


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message says why and what to do, in Chinese."""


@dataclass
class RowResult:
    row_number: int  # as Excel shows it
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str, Any, str]] = field(default_factory=list)  # (column header, raw value, message)
    raw: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ParsedSheet:
    sheet_name: str
    header_row: int
    rows: list[RowResult]
    unknown_headers: list[str]
    header_cells: list[Any] = field(default_factory=list)


def check_file(filename: str, content: bytes, max_bytes: int) -> None:
    """Refuse .xls, macro workbooks, CSV renamed to .xlsx, password-protected and oversized files."""
    name = (filename or "").lower().strip()
    if len(content) > max_bytes:
        raise ImportFileError(f"文件超过 {max_bytes // 1024 // 1024} MB，请拆分后分批导入。")
    if name.endswith(".xls"):
        raise ImportFileError("不支持旧版 .xls 文件，请在 Excel 中“另存为 .xlsx”后再导入。")
    if name.endswith(".xlsm"):
        raise ImportFileError("不接受含宏的 .xlsm 文件，请另存为普通 .xlsx 后再导入。")
    if not name.endswith(".xlsx"):
        raise ImportFileError("只能导入 .xlsx 格式的 Excel 文件。")
    if content.startswith(OLE_MAGIC):
        if b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in content:
            raise ImportFileError("文件设置了打开密码，请在 Excel 中取消密码后再导入。")
        raise ImportFileError("这是旧版 .xls 文件（只是扩展名改成了 .xlsx），请在 Excel 中另存为 .xlsx。")
    if not content.startswith(b"PK\x03\x04"):
        raise ImportFileError("文件不是 Excel 工作簿（可能是改了扩展名的 CSV 或文本文件），请在 Excel 中另存为 .xlsx。")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise ImportFileError("文件已损坏，无法读取。") from None
    if "xl/workbook.xml" not in names:
        raise ImportFileError("文件不是 Excel 工作簿（缺少工作簿内容）。")
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise ImportFileError("文件含有宏，请另存为不含宏的 .xlsx 后再导入。")


def _find_header(rows: list[tuple], columns: list[ImportColumn]) -> tuple[int, dict[int, ImportColumn], list[str]]:
    best: tuple[int, dict[int, ImportColumn], list[str]] | None = None
    for index, row in enumerate(rows):
        mapping: dict[int, ImportColumn] = {}
        unknown = []
        for position, cell in enumerate(row):
            key = normalise_header(cell)
            if not key:
                continue
            match = next((c for c in columns if key in c.headers() and c not in mapping.values()), None)
            if match:
                mapping[position] = match
            else:
                unknown.append(str(cell))
        if best is None or len(mapping) > len(best[1]):
            best = (index, mapping, unknown)
    if best is None or not best[1]:
        raise ImportFileError("找不到表头行：前 10 行中没有任何一列的标题与模板一致，请使用下载的导入模板。")
    missing = [c.header for c in columns if c.required and c not in best[1].values()]
    if missing:
        raise ImportFileError(f"缺少必填列：{'、'.join(missing)}。请使用下载的导入模板。")
    return best


def _open(content: bytes):
    try:
        return load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for damaged files
        raise ImportFileError("文件已损坏或格式不正确，无法读取。") from None


def _worksheet(wb, sheet: str | None):
    if sheet is not None and sheet not in wb.sheetnames:
        raise ImportFileError(f"工作簿中没有名为“{sheet}”的工作表。")
    return wb[sheet] if sheet else wb.worksheets[0]


def _blank(row: tuple) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in row)


def count_rows(content: bytes, columns: list[ImportColumn], sheet: str | None = None) -> int:
    """The number of data rows below the header, without parsing a cell (to choose request or job)."""
    wb = _open(content)
    try:
        iterator = _worksheet(wb, sheet).iter_rows(values_only=True)
        head = [row for _, row in zip(range(HEADER_SCAN_ROWS), iterator, strict=False)]
        header_index, _, _ = _find_header(head, columns)
        return sum(1 for row in _chain(head[header_index + 1:], iterator) if not _blank(row))
    finally:
        wb.close()


def read_sheet(content: bytes, columns: list[ImportColumn], max_rows: int, sheet: str | None = None,
               progress: Callable[[int], None] | None = None) -> ParsedSheet:
    """Parse every data row of the chosen (or first) sheet; cell errors are collected, not raised.

    ``progress`` (optional) is called with the number of data rows read so far, every few hundred rows.
    """
    wb = _open(content)
    try:
        ws = _worksheet(wb, sheet)
        iterator = ws.iter_rows(values_only=True)
        head = [row for _, row in zip(range(HEADER_SCAN_ROWS), iterator, strict=False)]
        header_index, mapping, unknown = _find_header(head, columns)
        results: list[RowResult] = []
        pending_blank: list[RowResult] = []
        data_rows = head[header_index + 1:]
        row_number = header_index + 1
        for row in _chain(data_rows, iterator):
            row_number += 1
            if _blank(row):
                pending_blank.append(RowResult(row_number))
                continue
            pending_blank.clear()  # blank rows between data rows are skipped; trailing ones never counted
            if len(results) >= max_rows:
                raise ImportFileError(f"数据超过 {max_rows} 行，请拆分后分批导入。")
            result = RowResult(row_number, raw=list(row))
            for position, column in mapping.items():
                value = row[position] if position < len(row) else None
                try:
                    result.values[column.name] = column.parse(value)
                except CellError as error:
                    result.errors.append((column.header, value, str(error)))
            results.append(result)
            if progress is not None and len(results) % PROGRESS_EVERY == 0:
                progress(len(results))
        return ParsedSheet(ws.title, header_index + 1, results, unknown, list(head[header_index]))
    finally:
        wb.close()


def _chain(first, rest):
    yield from first
    yield from rest
