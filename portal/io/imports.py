"""Import types, the preview (nothing written), and the commit (one transaction, logged).

A domain declares an ImportType: its columns, the duplicate key, and three callbacks —
find existing records by key, write one clean row (create or correct), and (optionally) delete a
period for "replace". The framework does the rest identically for every import.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill

from portal.core import audit
from portal.core.service import ServiceError
from portal.extensions import db

from .columns import ImportColumn
from .export import neutralise
from .models import MODES, ImportLog
from .reader import ImportFileError, ParsedSheet, RowResult, check_file, read_sheet


@dataclass
class ImportType:
    code: str
    label: str
    columns: list[ImportColumn]
    key: tuple[str, ...]
    find_existing: Callable[[list[tuple]], dict[tuple, Any]]
    write_row: Callable[[dict[str, Any], Any | None], bool]  # returns True when something changed
    delete_period: Callable[[Any, Any], int] | None = None
    period_column: str | None = None
    max_rows: int = 50_000
    max_bytes: int = 20 * 1024 * 1024
    validate_row: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None  # cross-field checks
    permission: str = ""  # the permission code a user needs for this import type
    example: tuple = ()  # one example row for the downloadable template

    def key_of(self, values: dict[str, Any]) -> tuple:
        return tuple(values.get(name) for name in self.key)


TYPES: dict[str, ImportType] = {}


def register(import_type: ImportType) -> ImportType:
    TYPES[import_type.code] = import_type
    return import_type


@dataclass
class Preview:
    import_type: ImportType
    sheet: ParsedSheet
    sha256: str
    new: list[RowResult] = field(default_factory=list)
    updated: list[RowResult] = field(default_factory=list)
    duplicates: list[RowResult] = field(default_factory=list)  # the same key twice in the file
    invalid: list[RowResult] = field(default_factory=list)
    existing: dict[tuple, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {"total": len(self.sheet.rows), "new": len(self.new), "updated": len(self.updated),
                "duplicate": len(self.duplicates), "invalid": len(self.invalid)}

    def first_errors(self, limit: int = 20) -> list[tuple[int, str, Any, str]]:
        out = []
        for row in sorted(self.invalid + self.duplicates, key=lambda r: r.row_number):
            for header, value, message in row.errors:
                out.append((row.row_number, header, value, message))
                if len(out) >= limit:
                    return out
        return out


def preview(code: str, filename: str, content: bytes, sheet: str | None = None) -> Preview:
    """Read and classify every row; nothing is written."""
    import_type = TYPES[code]
    try:
        check_file(filename, content, import_type.max_bytes)
        parsed = read_sheet(content, import_type.columns, import_type.max_rows, sheet)
    except ImportFileError as error:
        raise ServiceError(str(error), field="file") from None
    result = Preview(import_type, parsed, hashlib.sha256(content).hexdigest())
    seen: dict[tuple, int] = {}
    valid: list[RowResult] = []
    for row in parsed.rows:
        if row.ok and import_type.validate_row:
            row.errors.extend((header, None, message) for header, message in import_type.validate_row(row.values))
        if not row.ok:
            result.invalid.append(row)
            continue
        key = import_type.key_of(row.values)
        if key in seen:
            row.errors.append(("、".join(c.header for c in import_type.columns if c.name in import_type.key), key,
                               f"与第 {seen[key]} 行重复"))
            result.duplicates.append(row)
            continue
        seen[key] = row.row_number
        valid.append(row)
    result.existing = import_type.find_existing([import_type.key_of(r.values) for r in valid])
    for row in valid:
        (result.updated if import_type.key_of(row.values) in result.existing else result.new).append(row)
    return result


def commit(code: str, filename: str, content: bytes, mode: str, *, user_id: int | None,
           period: tuple | None = None, sheet: str | None = None) -> ImportLog:
    """Write the valid rows in the caller's transaction; refuse the whole file if any row is invalid."""
    if mode not in MODES:
        raise ServiceError("导入方式无效。", field="mode")
    started = time.perf_counter()
    result = preview(code, filename, content, sheet)
    import_type = result.import_type
    if result.invalid or result.duplicates:
        raise ServiceError(f"有 {len(result.invalid) + len(result.duplicates)} 行有错误，请下载错误报告修改后重新导入；"
                           "没有写入任何数据。", field="file")
    deleted = 0
    if mode == "replace":
        if import_type.delete_period is None or period is None:
            raise ServiceError("该导入类型不支持“替换该期间的数据”。", field="mode")
        deleted = import_type.delete_period(*period)
        result.existing = {}
        result.new, result.updated = result.new + result.updated, []
    new = sum(1 for row in result.new if import_type.write_row(row.values, None) or True)
    updated = unchanged = 0
    for row in result.updated:
        if mode == "new_only":
            unchanged += 1
        elif import_type.write_row(row.values, result.existing[import_type.key_of(row.values)]):
            updated += 1
        else:
            unchanged += 1
    log = ImportLog(user_id=user_id, import_type=code, mode=mode, filename=filename[-200:], sha256=result.sha256,
                    rows_total=len(result.sheet.rows), rows_new=new, rows_updated=updated, rows_unchanged=unchanged,
                    rows_deleted=deleted, rows_invalid=0, content=content,
                    duration_ms=int((time.perf_counter() - started) * 1000))
    db.session.add(log)
    db.session.flush()
    audit.record("create", "import_log", log.id, label=f"{import_type.label}：{filename[-100:]}",
                 after={"mode": mode, "new": new, "updated": updated, "deleted": deleted, "sha256": result.sha256})
    return log


def error_report(result: Preview) -> bytes:
    """The original rows with an error column, bad rows highlighted and each message as a cell comment."""
    wb = Workbook()
    ws = wb.active
    ws.title = "错误报告"
    headers = [c.header for c in result.import_type.columns]
    ws.append(["行号", *headers, "错误说明"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    bad = PatternFill("solid", fgColor="FDE7E5")
    for row in sorted(result.invalid + result.duplicates, key=lambda r: r.row_number):
        cells = _values_by_header(result, row)
        ws.append([row.row_number, *[neutralise(v) for v in cells], "；".join(f"{h}：{m}" for h, _, m in row.errors)])
        for header, _, message in row.errors:
            if header in headers:
                cell = ws.cell(row=ws.max_row, column=headers.index(header) + 2)
                cell.fill = bad
                cell.comment = Comment(message, "导入检查")
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _values_by_header(result: Preview, row: RowResult) -> list[Any]:
    """The raw cell under each declared column, in declaration order."""
    from .columns import normalise_header

    positions = {}
    header_cells = result.sheet.header_cells
    for position, text in enumerate(header_cells):
        for column in result.import_type.columns:
            if normalise_header(text) in column.headers():
                positions.setdefault(column.header, position)
    return [row.raw[positions[c.header]] if c.header in positions and positions[c.header] < len(row.raw) else None
            for c in result.import_type.columns]


def template(import_type: ImportType) -> bytes:
    """The import template: headers and one example row, and a sheet explaining each column."""
    wb = Workbook()
    ws = wb.active
    ws.title = import_type.label[:31]
    ws.append([c.header for c in import_type.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    if import_type.example:
        ws.append(list(import_type.example))
    ws.freeze_panes = "A2"
    notes = wb.create_sheet("填写说明")
    notes.append(["列", "必填", "可用的表头写法", "说明与取值"])
    kinds = {"text": "文字", "int": "整数", "decimal": "数字",
             "date": "日期，如 2026-11-23、2026/11/23、2026年11月23日",
             "datetime": "日期时间，如 2026-11-23 08:30", "bool": "是 / 否"}
    for c in import_type.columns:
        allowed = "、".join(c.choices.values()) if c.kind == "enum" else kinds.get(c.kind, "")
        notes.append([c.header, "是" if c.required else "否", "、".join((c.header, *c.aliases)),
                      "；".join(x for x in (c.help, allowed) if x)])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
