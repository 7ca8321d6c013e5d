"""Reading an uploaded .xlsx for import: refuse what is not a plain workbook or would exhaust the server,
find the header row on whichever sheet holds it, parse rows.

A sheet is read by calamine (`fastread`) when a scan of its XML shows nothing calamine would lose and its
cells fit the memory budget; otherwise by openpyxl's own streaming sheet parser, cell by cell as the XML
holds them: rows and columns that are not in the file cost nothing (a styled cell at XFD1048576 is one cell,
not a billion), error cells and formulas without a cached result are told apart from text and blanks, and a
text cell's leading apostrophe (how exports used to neutralise formulas) is dropped unless the cell is
quote-prefixed. Both readers give the same values (tests/unit/test_import_fastread.py).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet._reader import FORMULA_TAG, VALUE_TAG, WorkSheetParser

from . import fastread
from .columns import CellError, ImportColumn, normalise_header, similar_header

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HEADER_SCAN_ROWS = 30  # a title, an instructions block or a two-level header may come first
PROGRESS_EVERY = 200  # rows between two progress reports: often enough for a bar, cheap for Redis
DEFAULT_MAX_INFLATED_MB = 200  # the workbook's parts together, as declared in the zip directory
# Sheets are streamed; other parts (shared strings, styles) are read whole into memory, several times their
# size: each may take at most this share of the cap.
WHOLE_PART_SHARE = 4
STREAMED_PARTS = ("xl/worksheets/", "xl/media/")
MAX_RATIO = 100  # inflated / compressed for one part; real sheets stay below 20
RATIO_FLOOR = 1024 * 1024  # parts smaller than this are not worth judging by ratio
MIN_COLUMN_LIMIT = 256  # columns any import accepts (a hospital system's wide export), whatever it declares
COLUMN_MARGIN = 4  # ...or this many times the columns the type declares
ROW_SLACK = 10_000  # rows (blank, formatted) a sheet may hold beyond the type's row cap
FAR_ROWS = 100  # formatted rows beyond that which are ignored before the sheet is refused as absurd
MAX_DATE_SERIAL = 2958466  # 10000-01-01: a larger number in a date-formatted cell is no date
DAMAGED = "文件已损坏或格式不正确，无法读取。"
ERROR, UNCACHED = "e", "uncached"  # kinds of cells a row flags
ERROR_MESSAGE = "单元格是错误值 {value}（公式或引用出错），请改正后重新导入"
UNCACHED_MESSAGE = "公式没有计算结果，请在 Excel 中打开并保存后重新导入（或把该列改为数值）"


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
    engine: str = "openpyxl"  # which reader read the data rows: "calamine" or "openpyxl"


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


def column_limit(columns: list[ImportColumn]) -> int:
    return max(len(columns) * COLUMN_MARGIN, MIN_COLUMN_LIMIT)


def row_limit(max_rows: int) -> int:
    """Rows a sheet may span for a type: its row cap, the header area and some blank or formatted rows."""
    return max_rows + max(max_rows, ROW_SLACK) + HEADER_SCAN_ROWS


def _max_inflated_mb() -> int:
    from flask import current_app, has_app_context

    if has_app_context():
        return int(current_app.config.get("IMPORT_MAX_INFLATED_MB", DEFAULT_MAX_INFLATED_MB))
    return DEFAULT_MAX_INFLATED_MB


def check_archive(content: bytes, max_inflated_mb: int | None = None) -> None:
    """Refuse a workbook that would inflate beyond the cap, by the sizes its zip directory declares.

    Nothing is inflated here. The declared sizes bind: Python's zipfile stops a part at its declared
    size and fails its checksum if it holds more.
    """
    limit_mb = max_inflated_mb if max_inflated_mb is not None else _max_inflated_mb()
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise ImportFileError("文件已损坏，无法读取。") from None
    total = 0
    whole_limit = limit_mb * 1024 * 1024 // WHOLE_PART_SHARE
    for info in infos:
        total += info.file_size
        if info.file_size > whole_limit and not info.filename.startswith(STREAMED_PARTS):
            raise ImportFileError(f"文件中的“{info.filename[-60:]}”解压后约 {info.file_size // 1024 // 1024} MB，"
                                  f"超过 {whole_limit // 1024 // 1024} MB，请删除多余的内容，或拆分后分批导入。")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            size = info.file_size // 1024 // 1024
            raise ImportFileError(f"文件中的“{info.filename[-60:]}”压缩比异常（解压后 {size} MB），不像正常的 Excel "
                                  "工作簿，已拒绝导入。请在 Excel 中打开并另存为新文件后重新导入。")
    if total > limit_mb * 1024 * 1024:
        raise ImportFileError(f"文件解压后超过 {limit_mb} MB（约 {total // 1024 // 1024} MB），请删除多余的工作表、"
                              "格式或图片，或拆分后分批导入。")


class _SheetParser(WorkSheetParser):
    """openpyxl's sheet parser, telling a formula without a cached result from an empty cell, and keeping a
    number no date can be (20261123 typed into a date-formatted cell) a number instead of an error value.

    The parser is openpyxl's internal one (``openpyxl.worksheet._reader``, the version pinned in
    requirements.txt); the reader's tests exercise every hook used here.
    """

    def parse_cell(self, element):
        style = element.get("s")
        if style and style.isdigit() and int(style) in self.date_formats and element.get("t", "n") == "n":
            text = element.findtext(VALUE_TAG)
            if text and not _date_serial(text):
                element.set("s", "0")
        cell = super().parse_cell(element)
        if cell["value"] is None and element.find(FORMULA_TAG) is not None:
            cell["data_type"] = UNCACHED
        return cell


def _date_serial(text: str) -> bool:
    try:
        return float(text) < MAX_DATE_SERIAL
    except ValueError:
        return True  # not a number: openpyxl's own handling


@dataclass
class _Row:
    number: int  # as Excel shows it
    values: list[Any]
    flags: dict[int, str]  # position -> ERROR or UNCACHED

    @property
    def blank(self) -> bool:
        return not self.flags and all(v is None or (isinstance(v, str) and not v.strip()) for v in self.values)


def _openpyxl_rows(wb, ws, max_col: int) -> Iterator[_Row]:
    """The rows the sheet's XML holds, in order, cells beyond ``max_col`` left out; missing rows are skipped."""
    quoted = {index for index, style in enumerate(wb._cell_styles) if style.quotePrefix}
    try:
        source = ws._get_source()
    except Exception:  # a sheet the workbook names but the file lacks
        raise ImportFileError(DAMAGED) from None
    with source:
        parser = _SheetParser(source, ws._shared_strings, data_only=True, epoch=wb.epoch,
                              date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        parsed = parser.parse()
        while True:
            try:
                number, cells = next(parsed)
            except StopIteration:
                return
            except Exception:  # zipfile (a part longer than declared), the XML parser, openpyxl: a damaged file
                raise ImportFileError(DAMAGED) from None
            parser.row_dimensions.clear()  # row heights are of no use here and would pile up
            values: list[Any] = []
            flags: dict[int, str] = {}
            for cell in cells:
                position = cell["column"] - 1
                if position >= max_col:
                    continue
                value, kind = cell["value"], cell["data_type"]
                if kind in (ERROR, UNCACHED):
                    flags[position] = kind
                elif value is None:
                    continue
                elif isinstance(value, str) and value.startswith("'") and cell["style_id"] not in quoted:
                    value = value[1:]  # an apostrophe typed or exported to mark text is not part of the value
                if position >= len(values):
                    values.extend([None] * (position + 1 - len(values)))
                values[position] = value
            yield _Row(number, values, flags)


def _header_candidates(head: list[_Row]) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cells): each scanned row as a header, and each row completed from the row above (a
    two-level header whose single-level columns are merged down from the group row)."""
    for index, row in enumerate(head):
        yield row.number, row.values
        if index and head[index - 1].number == row.number - 1:
            above = head[index - 1].values
            width = max(len(above), len(row.values))
            filled = [row.values[i] if i < len(row.values) and row.values[i] not in (None, "") else
                      (above[i] if i < len(above) else None) for i in range(width)]
            yield row.number, filled


def _match(cells: list[Any], columns: list[ImportColumn]) -> tuple[dict[int, ImportColumn], list[str]]:
    mapping: dict[int, ImportColumn] = {}
    unknown = []
    for position, cell in enumerate(cells):
        key = normalise_header(cell)
        if not key:
            continue
        match = next((c for c in columns if key in c.headers() and c not in mapping.values()), None)
        if match:
            mapping[position] = match
        else:
            unknown.append(str(cell))
    return mapping, unknown


def _score(found, columns: list[ImportColumn]) -> tuple[int, int]:
    if found is None:
        return (-1, -1)
    mapping = found[2]
    missing = sum(1 for c in columns if c.required and c not in mapping.values())
    return (-missing, len(mapping))


def _find_header(head: list[_Row], columns: list[ImportColumn]):
    """The best header among the scanned rows: (row number, header cells, mapping, unknown) or None."""
    best = None
    for number, cells in _header_candidates(head):
        mapping, unknown = _match(cells, columns)
        if mapping and _score((number, cells, mapping, unknown), columns) > _score(best, columns):
            best = (number, cells, mapping, unknown)
    return best


def _check_header(found, columns: list[ImportColumn]) -> None:
    """A file column that looks like a template column it does not match is an error, as is a repeated one."""
    _, cells, mapping, _ = found
    present = list(mapping.values())
    for position, cell in enumerate(cells):
        key = normalise_header(cell)
        if not key or position in mapping:
            continue
        letter = get_column_letter(position + 1)
        twin = next((p for p in mapping if normalise_header(cells[p]) == key), None)
        if twin is not None:  # the same header twice (another alias of a column is only listed as unknown)
            raise ImportFileError(f"第 {letter} 列“{str(cell)[:40]}”与第 {get_column_letter(twin + 1)} 列重复，"
                                  "请删除重复的列后重新导入。")
        for column in columns:
            if column not in present and any(similar_header(key, h) for h in column.headers()):
                raise ImportFileError(f"第 {letter} 列“{str(cell)[:40]}”无法识别，是否应为“{column.header}”？"
                                      f"请把表头改为“{column.header}”（或删除该列）后重新导入。")
    missing = [c.header for c in columns if c.required and c not in present]
    if missing:
        raise ImportFileError(f"缺少必填列：{'、'.join(missing)}。请使用下载的导入模板。")


class _Book:
    """An uploaded workbook: its sheet list read from the XML parts, each sheet read by calamine or openpyxl.

    ``max_rows`` (the type's cap) bounds the rows a sheet may span for calamine; a sheet beyond it is
    streamed by openpyxl, which refuses it at the first row too far (`_data_rows`).
    """

    def __init__(self, content: bytes, max_inflated_mb: int | None = None, max_rows: int | None = None):
        check_archive(content, max_inflated_mb)
        self.content = content
        self.row_cap = row_limit(max_rows) if max_rows is not None else None
        try:
            self.info = fastread.book_info(content)
        except fastread.DamagedFile:
            raise ImportFileError(DAMAGED) from None
        self.sheetnames = self.info.sheetnames
        self.worksheets = self.info.sheets
        self.engines: dict[str, str] = {}
        self._scans: dict[str, fastread.Scan] = {}
        self._openpyxl = None
        self._calamine: fastread.CalamineBook | None = None

    def __getitem__(self, title: str) -> fastread.SheetInfo:
        return self.info[title]

    def close(self) -> None:
        if self._openpyxl is not None:
            self._openpyxl.close()
        if self._calamine is not None:
            self._calamine.close()

    def reader_for(self, sheet: fastread.SheetInfo, max_col: int) -> str:
        """"calamine" when the sheet's XML holds nothing calamine would lose and fits the budget, else "openpyxl"."""
        if sheet.path not in self._scans:
            try:
                self._scans[sheet.path] = fastread.scan_sheet(self.content, sheet.path)
            except fastread.DamagedFile:
                raise ImportFileError(DAMAGED) from None
        scan = self._scans[sheet.path]
        quoted = self.info.quoted and (scan.apostrophe or self.info.strings_apostrophe)
        reason = scan.reason(quoted, max_col, self.row_cap, self.info.strings_longest)
        return "openpyxl" if reason else "calamine"

    def rows(self, sheet: fastread.SheetInfo, max_col: int, merged: list[str] | None = None) -> Iterator[_Row]:
        """The sheet's rows; ``merged`` (when given) receives its merged ranges ("B3:B5") from the scan."""
        engine = self.reader_for(sheet, max_col)
        if merged is not None:
            merged.extend(self._scans[sheet.path].merged)
        self.engines[sheet.title] = engine
        if engine == "calamine":
            if self._calamine is None:
                try:
                    self._calamine = fastread.CalamineBook(self.content)
                except fastread.DamagedFile:
                    raise ImportFileError(DAMAGED) from None
            try:
                for number, values in self._calamine.rows(sheet.title, max_col):
                    yield _Row(number, values, {})
            except fastread.DamagedFile:
                raise ImportFileError(DAMAGED) from None
            return
        if self._openpyxl is None:
            try:
                self._openpyxl = load_workbook(io.BytesIO(self.content), read_only=True, data_only=True)
            except Exception:  # openpyxl raises many kinds for damaged files
                raise ImportFileError(DAMAGED) from None
        if sheet.title not in self._openpyxl.sheetnames:
            raise ImportFileError(DAMAGED)
        yield from _openpyxl_rows(self._openpyxl, self._openpyxl[sheet.title], max_col)


def _open(content: bytes, max_inflated_mb: int | None = None, max_rows: int | None = None) -> _Book:
    return _Book(content, max_inflated_mb, max_rows)


def recorded_rows(content: bytes, sheet: str | None = None) -> int | None:
    """The last row the sheet's declared range records (no cell is read), or None when it says nothing.

    The named sheet, else the first one. Refuses a workbook that would inflate beyond the cap; a damaged
    one gives None (reading it says why).
    """
    check_archive(content)
    try:
        info = fastread.book_info(content)
    except fastread.DamagedFile:
        return None
    if not info.sheets:
        return None
    chosen = info[sheet] if sheet and sheet in info.sheetnames else info.sheets[0]
    return chosen.max_row


def _head(book: _Book, ws, max_col: int) -> list[_Row]:
    rows = []
    for row in book.rows(ws, max_col):
        if row.number > HEADER_SCAN_ROWS:
            break
        rows.append(row)
    return rows


def _locate(book: _Book, sheet: str | None, columns: list[ImportColumn]):
    """The named sheet, or the first sheet whose header matches best; and its header. Refuses with the reason."""
    if sheet is not None and sheet not in book.sheetnames:
        raise ImportFileError(f"工作簿中没有名为“{sheet}”的工作表。")
    candidates = ([book[sheet]] if sheet else [ws for ws in book.worksheets if ws.sheet_state == "visible"]
                  or book.worksheets)
    max_col = column_limit(columns)
    best = None
    for ws in candidates:
        found = _find_header(_head(book, ws, max_col), columns)
        if found is not None and (best is None or _score(found, columns) > _score(best[1], columns)):
            best = (ws, found)
    if best is None:
        where = ("" if sheet or len(candidates) == 1 else "各工作表的") + f"前 {HEADER_SCAN_ROWS} 行"
        raise ImportFileError(f"找不到表头行：{where}中没有任何一列的标题与模板一致，请使用下载的导入模板。")
    _check_header(best[1], columns)
    return best


def _check_dimension(ws, columns: list[ImportColumn], max_rows: int | None) -> None:
    """Refuse a sheet whose declared used range is absurd for the type, before reading a row of it."""
    max_col, last_row = ws.max_column, ws.max_row
    cols, rows = column_limit(columns), row_limit(max_rows) if max_rows is not None else None
    if (max_col and max_col > cols) or (rows is not None and last_row and last_row > rows):
        used = f"{get_column_letter(ws.min_column or 1)}{ws.min_row or 1}:{get_column_letter(max_col or 1)}{last_row}"
        allowed = f"{cols} 列" + (f"、{rows} 行" if rows is not None else "")
        raise ImportFileError(f"工作表“{ws.title}”的使用范围是 {used}，超出本导入允许的 {allowed}：可能有格式或内容"
                              "落在很远的单元格。请删除多余的行和列（或把数据复制到新的工作表）后重新导入。")


def _data_rows(book: _Book, ws, columns: list[ImportColumn], header_number: int,
               max_rows: int | None, merged: list[str] | None = None) -> Iterator[_Row]:
    """The non-blank rows below the header. Rows far below what the type allows are refused, except a few
    blank (formatted) ones, so that the rows parsed stay bounded even when the sheet declares no range."""
    limit = row_limit(max_rows) if max_rows is not None else None
    far = 0
    for row in book.rows(ws, column_limit(columns), merged):
        if row.number <= header_number:
            continue
        if limit is not None and row.number > limit:
            far += 1
            if not row.blank:
                raise ImportFileError(f"数据超过 {max_rows} 行，请拆分后分批导入。")
            if far > FAR_ROWS:
                raise ImportFileError(f"工作表“{ws.title}”在第 {limit} 行之后还有大量带格式的空行，请删除多余的行"
                                      "（或把数据复制到新的工作表）后重新导入。")
            continue  # a formatted cell far below the data: nothing to read
        if not row.blank:
            yield row


def count_rows(content: bytes, columns: list[ImportColumn], sheet: str | None = None, *,
               max_rows: int | None = None) -> int:
    """The number of data rows below the header, without parsing a cell (to choose request or job).

    With ``max_rows`` the sheet's range is checked against it and counting stops at ``max_rows + 1``.
    """
    book = _open(content, max_rows=max_rows)
    try:
        ws, (header_number, _, _, _) = _locate(book, sheet, columns)
        _check_dimension(ws, columns, max_rows)
        count = 0
        for _ in _data_rows(book, ws, columns, header_number, max_rows):
            count += 1
            if max_rows is not None and count > max_rows:
                break
        return count
    finally:
        book.close()


def read_sheet(content: bytes, columns: list[ImportColumn], max_rows: int, sheet: str | None = None,
               progress: Callable[[int], None] | None = None, *, max_inflated_mb: int | None = None) -> ParsedSheet:
    """Parse every data row of the chosen sheet (or the one whose header matches); cell errors are collected.

    ``progress`` (optional) is called with the number of data rows read so far, every few hundred rows.
    Reading stops at the first row beyond ``max_rows``: the file is refused without reading the rest.
    """
    book = _open(content, max_inflated_mb, max_rows)
    try:
        ws, (header_number, header_cells, mapping, unknown) = _locate(book, sheet, columns)
        _check_dimension(ws, columns, max_rows)
        results: list[RowResult] = []
        merged: list[str] = []
        for row in _data_rows(book, ws, columns, header_number, max_rows, merged):
            if len(results) >= max_rows:
                raise ImportFileError(f"数据超过 {max_rows} 行，请拆分后分批导入。")
            results.append(_parse_row(row, mapping))
            if progress is not None and len(results) % PROGRESS_EVERY == 0:
                progress(len(results))
        _flag_merged(results, merged, mapping, header_number)
        return ParsedSheet(ws.title, header_number, results, unknown, list(header_cells),
                           engine=book.engines.get(ws.title, "openpyxl"))
    finally:
        book.close()


MERGED_MESSAGE = "第 {first}–{last} 行的单元格 {ref} 是合并单元格，只有第一行有值：请取消合并，在每一行填写后重新导入"


def _flag_merged(results: list[RowResult], merged: list[str], mapping: dict[int, ImportColumn],
                 header_number: int) -> None:
    """A cell merged down over data rows holds its value in the first row only: every row it covers is an error
    (never a silent blank, nor a value guessed for the rows below)."""
    if not merged:
        return
    by_number = {row.row_number: row for row in results}
    for ref in merged:
        try:
            min_col, min_row, max_col, max_row = range_boundaries(ref)
        except (TypeError, ValueError):
            continue
        if max_row <= header_number or min_row == max_row:
            continue  # a header's merged group, or cells merged across one row
        column = next((mapping[p] for p in range(min_col - 1, max_col) if p in mapping), None)
        if column is None:
            continue
        first = max(min_row, header_number + 1)
        for number in range(first, max_row + 1):
            row = by_number.get(number)
            if row is not None:
                row.errors.append((column.header, row.values.get(column.name),
                                   MERGED_MESSAGE.format(first=first, last=max_row, ref=ref)))


def _parse_row(row: _Row, mapping: dict[int, ImportColumn]) -> RowResult:
    result = RowResult(row.number, raw=list(row.values))
    for position, column in mapping.items():
        value = row.values[position] if position < len(row.values) else None
        flag = row.flags.get(position)
        if flag == ERROR:
            result.errors.append((column.header, value, ERROR_MESSAGE.format(value=value)))
            continue
        if flag == UNCACHED:
            result.errors.append((column.header, value, UNCACHED_MESSAGE))
            continue
        try:
            result.values[column.name] = column.parse(value)
        except CellError as error:
            result.errors.append((column.header, value, str(error)))
    return result


def preview_rows(content: bytes, max_rows: int, max_cols: int) -> tuple[list[list[str]], bool]:
    """The first sheet as text rows for showing in a page (bounded rows and columns; archive checks apply),
    and whether rows were cut. Raises ImportFileError (a ValueError) for a damaged file."""
    book = _open(content)
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            return [], False
        rows: list[list[str]] = []
        cut = False
        for row in book.rows(sheet, max_cols):
            if len(rows) >= max_rows:
                cut = True
                break
            rows.append(["" if v is None else str(v) for v in list(row.values)[:max_cols]])
        while rows and not any(rows[-1]):
            rows.pop()
        return rows, cut
    finally:
        book.close()
