"""Import types, the preview (nothing written), and the commit (one transaction, logged).

A domain declares an ImportType: its columns, the duplicate key, and three callbacks —
find existing records by key, write one clean row (create or correct), and (optionally) delete a
period for "replace" (with `count_period` to tell the user beforehand how many records that removes).
The framework does the rest identically for every import.

Big files are committed by a job (see `background`); `preview` and `commit` take an optional
`progress(stage, rows_done)` callback for its progress bar: stage "check" while rows are read and
checked, "write" while they are written.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from sqlalchemy.exc import DataError, IntegrityError

from portal.core import audit
from portal.core.service import ServiceError
from portal.extensions import db

from .columns import ImportColumn
from .export import neutralise
from .models import MODES, ImportLog
from .reader import PROGRESS_EVERY, ImportFileError, ParsedSheet, RowResult, check_file, read_sheet

Progress = Callable[[str, int], None]  # (stage "check" or "write", data rows done so far)


@dataclass
class ImportType:
    code: str
    label: str
    columns: list[ImportColumn]
    key: tuple[str, ...]
    find_existing: Callable[[list[tuple]], dict[tuple, Any]]
    write_row: Callable[[dict[str, Any], Any | None], bool]  # returns True when something changed
    delete_period: Callable[[Any, Any], int] | None = None  # (start, end) -> records deleted, for "replace"
    period_column: str | None = None  # the date column whose min..max is the period a file replaces
    count_period: Callable[[Any, Any], int] | None = None  # (start, end) -> records "replace" would delete
    max_rows: int = 50_000
    max_bytes: int = 20 * 1024 * 1024
    validate_row: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None  # cross-field checks
    permission: str = ""  # the permission code a user needs for this import type
    example: tuple = ()  # one example row for the downloadable template
    personal_data: bool = False  # the file carries patients' personal data: its original is purged (see originals)

    def key_of(self, values: dict[str, Any]) -> tuple:
        return tuple(values.get(name) for name in self.key)

    @property
    def can_replace(self) -> bool:
        return self.delete_period is not None


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

    @property
    def period(self) -> tuple[date, date] | None:
        """The first and last date of the period column over the valid rows (what "replace" would cover)."""
        name = self.import_type.period_column
        if name is None:
            return None
        days = [row.values[name] for row in self.new + self.updated if row.values.get(name) is not None]
        return (min(days), max(days)) if days else None

    def first_errors(self, limit: int = 20) -> list[tuple[int, str, Any, str]]:
        out = []
        for row in sorted(self.invalid + self.duplicates, key=lambda r: r.row_number):
            for header, value, message in row.errors:
                out.append((row.row_number, header, value, message))
                if len(out) >= limit:
                    return out
        return out


def preview(code: str, filename: str, content: bytes, sheet: str | None = None,
            progress: Progress | None = None) -> Preview:
    """Read and classify every row; nothing is written."""
    import_type = TYPES[code]
    read_progress = (lambda done: progress("check", done)) if progress else None
    try:
        check_file(filename, content, import_type.max_bytes)
        parsed = read_sheet(content, import_type.columns, import_type.max_rows, sheet, read_progress)
    except ImportFileError as error:
        raise ServiceError(str(error), field="file") from None
    if progress:
        progress("check", len(parsed.rows))
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
           period: tuple[date, date] | None = None, sheet: str | None = None,
           progress: Progress | None = None) -> ImportLog:
    """Write the valid rows in the caller's transaction; refuse the whole file if any row is invalid.

    Everything runs in a savepoint: a row that fails while being written (a rule of the domain, or the
    database refusing it) undoes every row before it and raises ServiceError naming the row.
    `period` is required for mode "replace": (first day, last day), and every row must fall in it.
    """
    if mode not in MODES:
        raise ServiceError("导入方式无效。", field="mode")
    started = time.perf_counter()
    result = preview(code, filename, content, sheet, progress)
    import_type = result.import_type
    if result.invalid or result.duplicates:
        raise ServiceError(f"有 {len(result.invalid) + len(result.duplicates)} 行有错误，请下载错误报告修改后重新导入；"
                           "没有写入任何数据。", field="file")
    if mode == "replace":
        check_period(result, period)
    with db.session.begin_nested():
        counts = _write(result, mode, period, progress)
        log = ImportLog(user_id=user_id, import_type=code, mode=mode, filename=filename[-200:],
                        sha256=result.sha256, rows_total=len(result.sheet.rows), rows_invalid=0, content=content,
                        duration_ms=int((time.perf_counter() - started) * 1000), **counts)
        db.session.add(log)
        db.session.flush()
        after = {"mode": mode, "new": counts["rows_new"], "updated": counts["rows_updated"],
                 "deleted": counts["rows_deleted"], "sha256": result.sha256}
        if period:
            after["period"] = [period[0].isoformat(), period[1].isoformat()]
        audit.record("create", "import_log", log.id, label=f"{import_type.label}：{filename[-100:]}", after=after)
    return log


def check_period(result: Preview, period: tuple[date, date] | None) -> None:
    """Replace needs a type that can delete a period, a valid period, and every row inside it."""
    import_type = result.import_type
    if not import_type.can_replace:
        raise ServiceError("该导入类型不支持“替换该期间的数据”。", field="mode")
    if period is None or not all(isinstance(day, date) for day in period):
        raise ServiceError("请填写要替换的期间（开始日期和结束日期）。", field="period")
    start, end = period
    if start > end:
        raise ServiceError("开始日期不能晚于结束日期。", field="period")
    name = import_type.period_column
    if name:
        header = next(c.header for c in import_type.columns if c.name == name)
        for row in result.new + result.updated:
            day = row.values.get(name)
            if day is not None and not start <= day <= end:
                raise ServiceError(f"第 {row.row_number} 行的{header} {day:%Y-%m-%d} 不在替换期间 "
                                   f"{start:%Y-%m-%d} 至 {end:%Y-%m-%d} 内；没有写入任何数据。", field="period")


@dataclass
class ReplacePlan:
    """What "replace" would do, shown for confirmation before anything is deleted."""

    start: date | None
    end: date | None
    file_period: tuple[date, date] | None  # the first and last date in the file
    deleting: int | None = None  # existing records in the period; None when unknown

    @property
    def ready(self) -> bool:
        return self.start is not None and self.end is not None

    @property
    def token(self) -> str:
        """The period the count was made for: a confirmation only counts for the period it showed."""
        return f"{self.start}..{self.end}" if self.ready else ""


def plan_replace(code: str, start: date | None, end: date | None,
                 file_period: tuple[date, date] | None) -> ReplacePlan:
    """Check a chosen period against the file and count what it would delete; nothing is written."""
    import_type = TYPES[code]
    if not import_type.can_replace:
        raise ServiceError("该导入类型不支持“替换该期间的数据”。", field="mode")
    plan = ReplacePlan(start, end, file_period)
    if (start is None) != (end is None):
        raise ServiceError("请同时填写开始日期和结束日期。", field="period")
    if not plan.ready:
        return plan
    if start > end:
        raise ServiceError("开始日期不能晚于结束日期。", field="period")
    if file_period and not (start <= file_period[0] and file_period[1] <= end):
        raise ServiceError(f"所选期间必须包含文件中的全部日期（{file_period[0]:%Y-%m-%d} 至 "
                           f"{file_period[1]:%Y-%m-%d}）。", field="period")
    if import_type.count_period is not None:
        plan.deleting = import_type.count_period(start, end)
    return plan


def _write(result: Preview, mode: str, period: tuple[date, date] | None, progress: Progress | None) -> dict:
    import_type = result.import_type
    rows = result.new + result.updated
    deleted = 0
    if mode == "replace":
        deleted = import_type.delete_period(*period)
        # Keys whose record lay outside the period (or survived the delete) are corrected, not duplicated.
        result.existing = import_type.find_existing([import_type.key_of(r.values) for r in rows])
    new = updated = unchanged = 0
    for done, row in enumerate(sorted(rows, key=lambda r: r.row_number), start=1):
        existing = result.existing.get(import_type.key_of(row.values))
        if existing is None:
            _write_row(import_type, row, None)
            new += 1
        elif mode == "new_only":
            unchanged += 1
        elif _write_row(import_type, row, existing):
            updated += 1
        else:
            unchanged += 1
        if progress and done % PROGRESS_EVERY == 0:
            progress("write", done)
    if progress:
        progress("write", len(rows))
    return {"rows_new": new, "rows_updated": updated, "rows_unchanged": unchanged, "rows_deleted": deleted}


def _write_row(import_type: ImportType, row: RowResult, existing: Any | None) -> bool:
    """Write one row and flush it, so that a refusal names its row (the savepoint undoes the rest)."""
    try:
        changed = import_type.write_row(row.values, existing)
        db.session.flush()
    except ServiceError as error:
        raise ServiceError(f"第 {row.row_number} 行无法写入：{error.message.rstrip('。')}；没有写入任何数据。",
                           field="file") from None
    except (IntegrityError, DataError):
        raise ServiceError(f"第 {row.row_number} 行无法写入（与已有数据冲突，或引用的记录不存在）；"
                           "没有写入任何数据。", field="file") from None
    return bool(changed)


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
