"""Import types, the preview (nothing written), and the commit (one transaction, logged).

A domain declares an ImportType: its columns, the duplicate key, and three callbacks —
find existing records by key, write one clean row (create or correct), and (optionally) delete a
period for "replace" (with `count_period` to tell the user beforehand how many records that removes).
The framework does the rest identically for every import.

Big files are previewed and committed by a job (see `background`); `preview` and `commit` take an
optional `progress(stage, rows_done)` callback for its progress bar: stage "check" while rows are read
and checked, "write" while they are written.

Speed and locking: the row cap is checked before any cell is parsed; the lookups a type's columns use
are loaded once per file (one or a few queries each, `register_table_lookup`); a type may write its rows in
bulk (`write_many`, with `bulk.insert_rows` / `bulk.update_rows`: COPY and one UPDATE on PostgreSQL) and is
then audited by ONE summary record listing the changed keys. A preview writes nothing; a commit validates
first and takes the write lock (SQLite: BEGIN IMMEDIATE) only for the writing itself (`write_lock`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from sqlalchemy.exc import DataError, IntegrityError

from portal.core import audit
from portal.core.service import ServiceError
from portal.extensions import db, sqlite_begin

from . import columns as _columns
from .columns import ImportColumn
from .export import neutralise
from .models import MODES, ImportLog
from .reader import (
    PROGRESS_EVERY,
    ImportFileError,
    ParsedSheet,
    RowResult,
    check_file,
    count_rows,
    read_sheet,
    recorded_rows,
)

Progress = Callable[[str, int], None]  # (stage "check" or "write", data rows done so far)
WRITE_CHUNK = 2000  # rows per bulk statement (and per progress step while writing)


@dataclass
class ImportType:
    code: str
    label: str
    columns: list[ImportColumn]
    key: tuple[str, ...]
    find_existing: Callable[[list[tuple]], dict[tuple, Any]]
    write_row: Callable[[dict[str, Any], Any | None], bool] | None = None  # returns True when something changed
    delete_period: Callable[[Any, Any], int] | None = None  # (start, end) -> records deleted, for "replace"
    period_column: str | None = None  # the date column whose min..max is the period a file replaces
    count_period: Callable[[Any, Any], int] | None = None  # (start, end) -> records "replace" would delete
    max_rows: int = 50_000  # the cap: a file with more data rows is refused before it is parsed
    job_rows: int | None = None  # files with more rows run as a job; None: the PORTAL_IMPORT_JOB_ROWS setting
    max_bytes: int = 20 * 1024 * 1024
    validate_row: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None  # cross-field checks
    # Checks that need the whole file (one query for all rows, clashes between rows): adds errors to rows.
    check_rows: Callable[[list[RowResult]], None] | None = None
    # The writer makes check_rows' checks again itself, under the write lock (the plan's submit_plan): a commit
    # then skips check_rows, so that each row is checked once; a problem found while writing refuses the file.
    write_checks: bool = False
    # Every unique key of the target table besides `key`: two rows of one file may not share any of them.
    unique_keys: tuple[tuple[str, ...], ...] = ()
    codes: tuple[str, ...] = ()  # identity columns stored without spaces and in upper case (employee numbers)
    compact: tuple[str, ...] = ()  # identity columns stored without any space, case kept (record numbers, item ids)
    # Bulk writer: (new rows' values, [(values, existing record)] to correct) -> the keys it changed among the
    # corrections. Audited by the framework's one summary record; write_row is then not used.
    write_many: Callable[[list[dict[str, Any]], list[tuple[dict[str, Any], Any]]], list[tuple]] | None = None
    # How the summary record names a written row (default: its key). Types whose key is personal data (an ID
    # number) name rows masked here.
    audit_key: Callable[[dict[str, Any]], str] | None = None
    permission: str = ""  # the permission code a user needs for this import type
    example: tuple = ()  # one example row for the downloadable template
    personal_data: bool = False  # the file carries patients' personal data: its original is purged (see originals)
    # (row values, existing record) -> the labels of the fields the row would change, [] when it changes nothing:
    # the preview then tells changed rows (with their fields) from unchanged ones.
    compare: Callable[[dict[str, Any], Any], list[str]] | None = None

    def key_of(self, values: dict[str, Any]) -> tuple:
        return tuple(values.get(name) for name in self.key)

    @property
    def can_replace(self) -> bool:
        return self.delete_period is not None

    @property
    def all_unique_keys(self) -> tuple[tuple[str, ...], ...]:
        return (self.key, *(k for k in self.unique_keys if k != self.key))

    @property
    def identity_columns(self) -> set[str]:
        return {name for key in self.all_unique_keys for name in key} | set(self.codes) | set(self.compact)

    @property
    def lookups(self) -> list[str]:
        """The registered lookups this type's columns use: each is loaded once per file."""
        return sorted({c.kind for c in self.columns if c.kind in TABLE_LOOKUPS})

    def job_threshold(self, default: int) -> int:
        """Files with more data rows than this are previewed and committed by a job."""
        return min(self.job_rows or default, default, self.max_rows - 1)


TYPES: dict[str, ImportType] = {}


def register(import_type: ImportType) -> ImportType:
    if import_type.write_row is None and import_type.write_many is None:
        raise ValueError(f"import type {import_type.code} declares no writer")
    if import_type.job_rows is not None and not 0 < import_type.job_rows < import_type.max_rows:
        raise ValueError(f"import type {import_type.code}: job_rows must be below max_rows")
    names = {c.name for c in import_type.columns}
    unknown = import_type.identity_columns - names
    if unknown:
        raise ValueError(f"import type {import_type.code}: unknown key columns {sorted(unknown)}")
    TYPES[import_type.code] = import_type
    return import_type


# --- identity keys ---

_CJK = r"\u2e80-\u9fff\uf900-\ufaff"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")


def normalise_identity(value: Any, code: bool = False, compact: bool = False) -> Any:
    """An identity value as compared and stored: full width folded, spaces trimmed; "欧阳 娜娜" is "欧阳娜娜".

    Record numbers and item ids (compact) lose every space, codes also their case; names keep one space
    between Latin words ("John Smith") but none between Chinese characters. Within a file keys compare
    in any case as well.
    """
    if not isinstance(value, str):
        return value
    text = unicodedata.normalize("NFKC", value)
    if code:
        return "".join(text.split()).upper()
    if compact:
        return "".join(text.split())
    return _CJK_GAP.sub("", " ".join(text.split()))


def _identity_rules(import_type: ImportType) -> list[tuple[str, bool, bool]]:
    """(column, code, compact) for each identity column: worked out once per file, applied to every row."""
    return [(name, name in import_type.codes, name in import_type.compact) for name in import_type.identity_columns]


def _normalise_identities(rules: list[tuple[str, bool, bool]], values: dict[str, Any]) -> None:
    for name, code, compact in rules:
        if name in values:
            values[name] = normalise_identity(values[name], code=code, compact=compact)


# --- lookups loaded once per file ---

@dataclass
class Lookup:
    kind: str
    load: Callable[[], Any]  # one or a few queries: everything a file's cells of this kind may name
    resolve: Callable[[Any, Any], Any]  # (cell value, what load returned) -> clean value, or CellError


TABLE_LOOKUPS: dict[str, Lookup] = {}
_loaded: ContextVar[dict[str, Any] | None] = ContextVar("import_lookups", default=None)


def register_table_lookup(kind: str, load: Callable[[], Any], resolve: Callable[[Any, Any], Any]) -> None:
    """A column kind that names a record (a department, a case manager): loaded in bulk, resolved per cell."""
    TABLE_LOOKUPS[kind] = Lookup(kind, load, resolve)
    _columns.register_lookup(kind, lambda value: resolve(value, lookup_table(kind)))


def lookup_table(kind: str) -> Any:
    """The loaded table of a lookup: once per file while `prefetched` is active, else loaded now."""
    cache = _loaded.get()
    if cache is None:
        return TABLE_LOOKUPS[kind].load()
    if kind not in cache:
        cache[kind] = TABLE_LOOKUPS[kind].load()
    return cache[kind]


@contextlib.contextmanager
def prefetched(import_type: ImportType) -> Iterator[None]:
    """Load every lookup the type declares once, before its rows are read."""
    token = _loaded.set({})
    try:
        for kind in import_type.lookups:
            lookup_table(kind)
        yield
    finally:
        _loaded.reset(token)


# --- the write lock ---

@contextlib.contextmanager
def write_lock() -> Iterator[None]:
    """End the read transaction and take the write lock for what follows (SQLite; nothing to do elsewhere).

    A preview and the checks of a commit read without the lock, so logins and other writes go on; the
    lock is held only from here to the commit of the request or job. Nothing may have been written before.
    """
    session = db.session
    if session.get_bind().dialect.name != "sqlite" or sqlite_begin.get() == "BEGIN IMMEDIATE":
        yield
        return
    session.commit()  # nothing written yet: this only ends the read snapshot
    token = sqlite_begin.set("BEGIN IMMEDIATE")
    try:
        session.connection()  # BEGIN IMMEDIATE now, before anything is written
        yield
    finally:
        sqlite_begin.reset(token)


@dataclass
class Preview:
    import_type: ImportType
    sheet: ParsedSheet
    sha256: str
    new: list[RowResult] = field(default_factory=list)
    updated: list[RowResult] = field(default_factory=list)
    duplicates: list[RowResult] = field(default_factory=list)  # a unique key twice in the file
    invalid: list[RowResult] = field(default_factory=list)
    existing: dict[tuple, Any] = field(default_factory=dict)
    # With the type's `compare`: {"changed": n, "unchanged": n, "rows": [[row number, key, [field labels]], ...]}.
    comparison: dict | None = None

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

    def summary(self) -> dict:
        """What the preview page shows, as JSON (a preview run by a job keeps it on the job row)."""
        period = self.period
        return {"counts": self.counts, "sha256": self.sha256,
                "errors": [[r, h, v if v is None or isinstance(v, (int, float)) else str(v)[:200], m]
                           for r, h, v, m in self.first_errors()],
                "period": [d.isoformat() for d in period] if period else None, "comparison": self.comparison,
                "sheet": {"sheet_name": self.sheet.sheet_name, "header_row": self.sheet.header_row,
                          "unknown_headers": [str(h) for h in self.sheet.unknown_headers]}}


@dataclass
class PreviewSummary:
    """A preview read back from its summary: the same attributes the preview page uses."""

    import_type: ImportType
    data: dict

    @property
    def counts(self) -> dict[str, int]:
        return self.data["counts"]

    @property
    def sha256(self) -> str:
        return self.data["sha256"]

    @property
    def sheet(self) -> SimpleNamespace:
        return SimpleNamespace(**self.data["sheet"])

    @property
    def period(self) -> tuple[date, date] | None:
        period = self.data.get("period")
        return (date.fromisoformat(period[0]), date.fromisoformat(period[1])) if period else None

    def first_errors(self, limit: int = 20) -> list[tuple[int, str, Any, str]]:
        return [tuple(e) for e in self.data["errors"][:limit]]

    @property
    def comparison(self) -> dict | None:
        return self.data.get("comparison")


def _recorded_rows(content: bytes, sheet: str | None) -> int | None:
    """The last row the sheet's declared range records (no cell is read), or None when it says nothing."""
    return recorded_rows(content, sheet)


def _counted(content: bytes, import_type: ImportType, sheet: str | None, recorded: int | None) -> int | None:
    """Data rows below the header, counted without parsing a cell; refused over the type's cap.

    A sheet whose recorded size is far beyond the cap is refused without counting: reading a million
    empty formatted rows would cost what the cap is there to prevent.
    """
    if recorded is not None and recorded > 2 * import_type.max_rows + 10:
        raise ImportFileError(f"工作表范围达 {recorded} 行，超过 {import_type.max_rows} 行，请拆分后分批导入；"
                              "如果实际数据没有这么多，请删除表格下方多余的行后重新保存。")
    try:
        rows = count_rows(content, import_type.columns, sheet)
    except ImportFileError:
        return None  # no header, missing columns: read_sheet says so
    if rows > import_type.max_rows:
        raise ImportFileError(f"数据共 {rows} 行，超过 {import_type.max_rows} 行，请拆分后分批导入。")
    return rows


def check_row_count(content: bytes, import_type: ImportType, sheet: str | None = None) -> int | None:
    """Refuse a file over the type's cap before any cell is parsed; the data rows when they were counted.

    The sheet's recorded dimension settles most files at once; only a file whose dimension says it may
    be too big (or says nothing) is counted, a pass that reads no cell into a value.
    """
    recorded = _recorded_rows(content, sheet)
    if recorded is not None and recorded <= import_type.max_rows + 1:
        return None  # even with the header in row 1 there is no room for too many rows
    return _counted(content, import_type, sheet, recorded)


def count_data_rows(filename: str, content: bytes, import_type: ImportType, above: int,
                    sheet: str | None = None) -> int | None:
    """None for a file small enough to check in the request (at most `above` rows); else its data rows.

    Refuses (ServiceError) a file that is no workbook or has more rows than the type's cap.
    """
    try:
        check_file(filename, content, import_type.max_bytes)
        recorded = _recorded_rows(content, sheet)
        if recorded is not None and recorded <= above + 1:
            return None
        if recorded is not None and recorded <= import_type.max_rows + 1:
            return recorded - 1  # at most this many: the job counts them exactly as it reads
        rows = _counted(content, import_type, sheet, recorded)
    except ImportFileError as error:
        raise ServiceError(str(error), field="file") from None
    return rows if rows is not None and rows > above else None


def preview(code: str, filename: str, content: bytes, sheet: str | None = None,
            progress: Progress | None = None, *, writing: bool = False) -> Preview:
    """Read and classify every row; nothing is written. ``writing``: the commit's own check, which leaves
    check_rows to a writer that makes those checks under the write lock (`ImportType.write_checks`)."""
    import_type = TYPES[code]
    read_progress = (lambda done: progress("check", done)) if progress else None
    try:
        check_file(filename, content, import_type.max_bytes)
        check_row_count(content, import_type, sheet)
    except ImportFileError as error:
        raise ServiceError(str(error), field="file") from None
    with prefetched(import_type):  # the lookups serve the cells and the row checks alike: loaded once per file
        try:
            parsed = read_sheet(content, import_type.columns, import_type.max_rows, sheet, read_progress)
        except ImportFileError as error:
            raise ServiceError(str(error), field="file") from None
        return _classify(import_type, parsed, hashlib.sha256(content).hexdigest(), progress, writing)


def _classify(import_type: ImportType, parsed: ParsedSheet, sha256: str, progress: Progress | None,
              writing: bool) -> Preview:
    """Row checks, clashes within the file, and new or known: the preview's verdict on each row."""
    if progress:
        progress("check", len(parsed.rows))
    result = Preview(import_type, parsed, sha256)
    checked: list[RowResult] = []
    rules = _identity_rules(import_type)
    for row in parsed.rows:
        if row.ok:
            _normalise_identities(rules, row.values)
        if row.ok and import_type.validate_row:
            row.errors.extend((header, None, message) for header, message in import_type.validate_row(row.values))
        if row.ok:
            checked.append(row)
    valid = _unique_rows(import_type, result, checked)
    if import_type.check_rows and valid and not (writing and import_type.write_checks):
        import_type.check_rows(valid)  # the whole file at once: a few queries, and clashes between rows
        valid = [row for row in valid if row.ok]
    duplicate = {id(row) for row in result.duplicates}
    result.invalid = [row for row in parsed.rows if not row.ok and id(row) not in duplicate]
    result.existing = import_type.find_existing([import_type.key_of(r.values) for r in valid])
    for row in valid:
        (result.updated if import_type.key_of(row.values) in result.existing else result.new).append(row)
    if import_type.compare is not None:
        result.comparison = _compare(import_type, result)
    return result


COMPARED_ROWS_SHOWN = 50


def _compare(import_type: ImportType, result: Preview) -> dict:
    """Which existing records a file changes, and in which fields (the first rows listed, all counted)."""
    changed, rows = 0, []
    for row in result.updated:
        key = import_type.key_of(row.values)
        fields = import_type.compare(row.values, result.existing[key])
        if fields:
            changed += 1
            if len(rows) < COMPARED_ROWS_SHOWN:
                rows.append([row.row_number, _key_text(key), list(fields)])
    return {"changed": changed, "unchanged": len(result.updated) - changed, "rows": rows}


def _unique_rows(import_type: ImportType, result: Preview, rows: list[RowResult]) -> list[RowResult]:
    """Rows that share any unique key with an earlier row are duplicates; the rest, in file order."""
    headers = {c.name: c.header for c in import_type.columns}
    seen: dict[tuple[str, ...], dict[tuple, int]] = {key: {} for key in import_type.all_unique_keys}
    valid = []
    for row in rows:
        values = {names: _comparable(row.values, names) for names in seen}
        clash = next(((names, values[names], first[values[names]]) for names, first in seen.items()
                      if values[names] is not None and values[names] in first), None)
        if clash is not None:
            names, _, earlier = clash
            value = tuple(row.values.get(name) for name in names)
            label = "、".join(headers[name] for name in names)
            same = "" if names == import_type.key else f"（{label}相同）"
            row.errors.append((label, value if len(value) > 1 else value[0], f"与第 {earlier} 行重复{same}"))
            result.duplicates.append(row)
            continue
        for names, first in seen.items():
            if values[names] is not None:
                first[values[names]] = row.row_number
        valid.append(row)
    return valid


def _comparable(values: dict[str, Any], names: tuple[str, ...]) -> tuple | None:
    """A unique key as compared within a file (letters in any case are the same); None when a part is blank."""
    key = []
    for name in names:
        part = values.get(name)
        if part is None or part == "":
            return None  # a blank column (a patient without 住院号) clashes with nothing
        key.append(part.casefold() if isinstance(part, str) else part)
    return tuple(key)


def commit(code: str, filename: str, content: bytes, mode: str, *, user_id: int | None,
           period: tuple[date, date] | None = None, sheet: str | None = None,
           progress: Progress | None = None, before_write: Callable[[], None] | None = None) -> ImportLog:
    """Write the valid rows in the caller's transaction; refuse the whole file if any row is invalid.

    The file is checked first, without the write lock; then the lock is taken and the rows are written
    in a savepoint: a row that fails while being written (a rule of the domain, or the database refusing
    it) undoes every row before it and raises ServiceError. `before_write` runs once the lock is held (a
    job checks it has not been given up meanwhile). `period` is required for mode "replace": (first day,
    last day), and every row must fall in it.
    """
    if mode not in MODES:
        raise ServiceError("导入方式无效。", field="mode")
    started = time.perf_counter()
    result = preview(code, filename, content, sheet, progress, writing=True)
    import_type = result.import_type
    if result.invalid or result.duplicates:
        raise ServiceError(f"有 {len(result.invalid) + len(result.duplicates)} 行有错误，请下载错误报告修改后重新导入；"
                           "没有写入任何数据。", field="file")
    if mode == "replace":
        check_period(result, period)
    with write_lock():
        if before_write is not None:
            before_write()
        with db.session.begin_nested():
            counts, changed_keys = _write(result, mode, period, progress)
            log = ImportLog(user_id=user_id, import_type=code, mode=mode, filename=filename[-200:],
                            sha256=result.sha256, rows_total=len(result.sheet.rows), rows_invalid=0, content=content,
                            duration_ms=int((time.perf_counter() - started) * 1000), **counts)
            db.session.add(log)
            db.session.flush()
            after = {"mode": mode, "new": counts["rows_new"], "updated": counts["rows_updated"],
                     "deleted": counts["rows_deleted"], "sha256": result.sha256}
            if period:
                after["period"] = [period[0].isoformat(), period[1].isoformat()]
            if changed_keys is not None:  # bulk types: this one record stands for every row written
                after["keys"] = changed_keys
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


def _key_text(key: tuple) -> str:
    return "/".join("" if part is None else part.isoformat() if isinstance(part, date) else str(part) for part in key)


def _write(result: Preview, mode: str, period: tuple[date, date] | None,
           progress: Progress | None) -> tuple[dict, dict | None]:
    import_type = result.import_type
    rows = sorted(result.new + result.updated, key=lambda r: r.row_number)
    deleted = 0
    if mode == "replace":
        deleted = import_type.delete_period(*period)
        # Keys whose record lay outside the period (or survived the delete) are corrected, not duplicated.
        result.existing = import_type.find_existing([import_type.key_of(r.values) for r in rows])
    if import_type.write_many is not None:
        return _write_bulk(import_type, result, rows, mode, progress, deleted)
    new = updated = unchanged = 0
    for done, row in enumerate(rows, start=1):
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
    return {"rows_new": new, "rows_updated": updated, "rows_unchanged": unchanged, "rows_deleted": deleted}, None


def _write_bulk(import_type: ImportType, result: Preview, rows: list[RowResult], mode: str,
                progress: Progress | None, deleted: int) -> tuple[dict, dict]:
    """Insert and correct in statements of WRITE_CHUNK rows; one summary audit record lists the keys."""
    new_keys: list[str] = []
    changed_keys: list[str] = []
    unchanged = 0
    name = import_type.audit_key or (lambda values: _key_text(import_type.key_of(values)))
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start:start + WRITE_CHUNK]
        fresh, corrections = [], []
        names: dict[tuple, str] = {}
        for row in chunk:
            existing = result.existing.get(import_type.key_of(row.values))
            if existing is None:
                fresh.append(row.values)
                new_keys.append(name(row.values))
            elif mode == "new_only":
                unchanged += 1
            else:
                corrections.append((row.values, existing))
                names[import_type.key_of(row.values)] = name(row.values)
        try:
            changed = import_type.write_many(fresh, corrections)
            db.session.flush()
        except ServiceError as error:
            raise ServiceError(f"无法写入：{error.message.rstrip('。')}；没有写入任何数据。", field="file") from None
        except (IntegrityError, DataError):
            raise ServiceError("无法写入：与已有数据冲突（可能有人同时导入或修改了相同的记录），或引用的记录不存在；"
                               "没有写入任何数据。请重新上传后再试。", field="file") from None
        changed_keys.extend(names.get(tuple(key)) or _key_text(key) for key in changed)
        unchanged += len(corrections) - len(changed)
        if progress:
            progress("write", start + len(chunk))
    counts = {"rows_new": len(new_keys), "rows_updated": len(changed_keys), "rows_unchanged": unchanged,
              "rows_deleted": deleted}
    return counts, {"new": new_keys, "updated": changed_keys}


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
