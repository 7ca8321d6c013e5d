"""The fast path of the import reader: the workbook's small parts read directly, a sheet read by calamine.

python-calamine (Rust) reads a sheet about twenty times faster than openpyxl, but it gives a cell as a plain
value and so loses three things the import must know, and it builds the sheet as one dense block in memory:

- an error cell (#N/A, #REF!) comes back as "" like an empty cell, and a formula without a cached result
  comes back as "" too: both must be row errors, never blanks;
- it knows no cell style: a text's leading apostrophe is dropped unless the cell is quote-prefixed, which
  only the style tells;
- a cell far from the data (a value at XFD1048576 in a sheet whose declared range lies) makes it allocate
  rows x columns cells at once: the process aborts, no exception is raised.

So before calamine opens a sheet, its XML is streamed once (zipfile: the part may not exceed its declared
size, and its checksum is verified) and scanned for error cells, formulas without a result, the real extent
of the cells, cells without a reference, and (only when a style is quote-prefixed) text starting with an
apostrophe. A sheet with any of these, or wider than the cell budget, is read by openpyxl as before (`reader`):
such a file is one the import refuses or reports row errors for anyway, so the slow path is not the common one.

The workbook's sheet list, states and declared ranges are read from its XML parts here as well: openpyxl's
read-only workbook would parse every shared string in Python just to give them.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from openpyxl.utils import range_boundaries

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
WORKSHEET_REL = "/worksheet"
CHUNK = 1 << 20  # bytes of sheet XML scanned at a time
# calamine holds rows x columns cells (32 bytes each, plus the text) while the sheet is read, and every cell
# becomes a Python object of its own (openpyxl shares one per shared string): about 220 bytes a cell at the
# peak, measured on 39,000 rows x 25 columns of shared strings (291 MB against openpyxl's 130 MB). Above this
# many cells the sheet is streamed by openpyxl instead, so that an import stays under 500 MB whatever the
# file's compression ratio; 100,000 rows of up to 8 columns are read by calamine.
MAX_CELLS = 800_000
# calamine copies a shared string into every cell that uses it (openpyxl shares one object): a small file may
# name one long string a million times. Bounded by (cells using shared strings) x (longest shared string).
MAX_STRING_BYTES = 150 * 1024 * 1024
MAX_SHEET_BYTES = 100 * 1024 * 1024  # a sheet's XML; a larger one is streamed (inline text is held whole)
EXACT_FLOAT = 1e15  # below this a whole number read as a float is shown as an integer, as openpyxl reads it

_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')
_MERGED = re.compile(rb"""<mergeCell\s+ref=["']([A-Z]{1,3}[0-9]{1,7}:[A-Z]{1,3}[0-9]{1,7})["']""")
_ANY_CELL = re.compile(rb"<c[ >/]")
_ERROR = re.compile(rb"""\st=["']e["']""")
# A formula element followed by the end of its cell, or by an empty cached value.
_UNCACHED = re.compile(rb"(?:</f>|<f\b[^>]*/>)\s*(?:</c>|<v\s*/>|<v>\s*</v>)")
_APOSTROPHE = re.compile(rb">'")  # a text (shared, inline or a formula's) whose first character is '
_DIMENSION = re.compile(rb'<dimension\s+ref="([^"]+)"')
_QUOTED = re.compile(rb"""quotePrefix=["'](?:1|true)["']""")
_STRING_ITEM = re.compile(rb"<si>.*?</si>", re.S)


class DamagedFile(ValueError):
    """A part that cannot be read: the reader says the file is damaged."""


@dataclass
class SheetInfo:
    title: str
    path: str  # the sheet's part in the zip
    sheet_state: str = "visible"
    min_column: int | None = None  # the declared used range (<dimension>), as openpyxl reports it
    min_row: int | None = None
    max_column: int | None = None
    max_row: int | None = None


@dataclass
class BookInfo:
    sheets: list[SheetInfo] = field(default_factory=list)
    quoted: bool = False  # some cell style is quote-prefixed: an apostrophe may be part of a text
    strings_apostrophe: bool = False  # some shared string starts with an apostrophe
    strings_path: str | None = None
    strings_longest: int = 0  # bytes of XML of the longest shared string (at least its text's length)

    @property
    def sheetnames(self) -> list[str]:
        return [s.title for s in self.sheets]

    def __getitem__(self, title: str) -> SheetInfo:
        return next(s for s in self.sheets if s.title == title)


def _part_path(target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    parts: list[str] = []
    for piece in ("xl/" + target).split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def book_info(content: bytes) -> BookInfo:
    """The worksheets (name, state, part, declared range) and the style facts the fast path needs.

    Every part calamine may read besides the sheets is read whole here through zipfile, which refuses a
    part longer than declared or with a wrong checksum (the sizes were bounded by `check_archive`).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            workbook = ET.fromstring(archive.read("xl/workbook.xml"))
            rels_name = "xl/_rels/workbook.xml.rels"
            rels = ET.fromstring(archive.read(rels_name)) if rels_name in names else None
            targets, strings_path = {}, None
            for rel in (rels.iter(PKG_REL) if rels is not None else ()):
                kind = rel.get("Type", "")
                if kind.endswith(WORKSHEET_REL):
                    targets[rel.get("Id")] = _part_path(rel.get("Target", ""))
                elif kind.endswith("/sharedStrings"):
                    strings_path = _part_path(rel.get("Target", ""))
            info = BookInfo(strings_path=strings_path if strings_path in names else None)
            for sheet in workbook.iter(f"{MAIN}sheet"):
                path = targets.get(sheet.get(DOC_REL))
                if path is None:
                    continue  # a chartsheet
                item = SheetInfo(sheet.get("name", ""), path, sheet.get("state") or "visible")
                if path in names:  # a sheet the file lacks is a damaged file once it is read
                    _declared_range(archive, item)
                info.sheets.append(item)
            if "xl/styles.xml" in names:
                info.quoted = bool(_QUOTED.search(archive.read("xl/styles.xml")))
            if info.strings_path:
                strings = archive.read(info.strings_path)
                info.strings_apostrophe = bool(_APOSTROPHE.search(strings))
                info.strings_longest = max(map(len, _STRING_ITEM.findall(strings)), default=0)
            for name in ("[Content_Types].xml", "_rels/.rels"):
                if name in names:
                    archive.read(name)
    except (zipfile.BadZipFile, KeyError, ET.ParseError, ValueError, EOFError, OSError):
        raise DamagedFile from None
    return info


def _declared_range(archive: zipfile.ZipFile, sheet: SheetInfo) -> None:
    with archive.open(sheet.path) as part:
        head = part.read(64 * 1024)
    found = _DIMENSION.search(head.split(b"<sheetData", 1)[0])
    if not found:
        return
    try:
        min_col, min_row, max_col, max_row = range_boundaries(found.group(1).decode("ascii", "replace").upper())
    except (ValueError, TypeError):
        return
    sheet.min_column, sheet.min_row = min_col, min_row
    sheet.max_column, sheet.max_row = max_col or min_col, max_row or min_row


@dataclass
class Scan:
    """What a sheet's XML holds, as far as the choice of reader is concerned."""

    max_row: int = 0
    min_column: int = 0  # 0: no cell
    max_column: int = 0
    unreferenced: bool = False  # cells without an r="A1" reference (or another attribute first)
    errors: bool = False
    uncached: bool = False
    apostrophe: bool = False
    shared_cells: int = 0  # cells holding a shared string
    size: int = 0  # bytes of XML
    merged: list[str] = field(default_factory=list)  # merged ranges ("B3:B5"), listed after the sheet's data

    def cells(self) -> int:
        """The dense block calamine builds: every row from the first, every column between the extremes."""
        return self.max_row * (self.max_column - self.min_column + 1) if self.max_column else 0

    def reason(self, quoted: bool, max_col: int, max_row: int | None, strings_longest: int = 0) -> str | None:
        """Why calamine may not read this sheet, or None. ``quoted``: a style is quote-prefixed and some text
        (of this sheet or the shared strings) starts with an apostrophe."""
        if self.errors:
            return "error cells"
        if self.uncached:
            return "formulas without a cached result"
        if self.unreferenced:
            return "cells without a reference"
        if quoted:
            return "quote-prefixed styles and text starting with an apostrophe"
        if self.max_column > max_col or (max_row is not None and self.max_row > max_row):
            return "cells beyond the type's range"
        if self.cells() > MAX_CELLS:
            return "more cells than the budget"
        if self.shared_cells * strings_longest > MAX_STRING_BYTES:
            return "shared strings repeated beyond the budget"
        if self.size > MAX_SHEET_BYTES:
            return "a sheet larger than the budget"
        return None


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def scan_sheet(content: bytes, path: str) -> Scan:
    """Stream the sheet's XML once (bounded by its declared size and checked by its checksum)."""
    scan = Scan()
    columns: set[bytes] = set()
    carry = b""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive, archive.open(path) as part:
            while True:
                chunk = part.read(CHUNK)
                data = carry + chunk
                if not chunk:
                    cut = len(data)
                else:  # whole tags only: keep the last two tags for the next round (a formula and its cell end)
                    last = data.rfind(b"<")
                    cut = data.rfind(b"<", 0, last) if last > 0 else -1
                    if cut <= 0:
                        carry = data
                        continue
                body = data[:cut]
                # Searched over the body and what is carried: a match seen twice changes no flag.
                if not scan.errors and _ERROR.search(data):
                    scan.errors = True
                if not scan.uncached and (b"<f" in data or b"</f>" in data) and _UNCACHED.search(data):
                    scan.uncached = True
                if not scan.apostrophe and _APOSTROPHE.search(data):
                    scan.apostrophe = True
                scan.size += len(body)
                scan.merged.extend(ref.decode() for ref in _MERGED.findall(body))
                scan.shared_cells += body.count(b' t="s"') + body.count(b" t='s'")
                refs = _CELL.findall(body)
                if len(refs) != len(_ANY_CELL.findall(body)):
                    scan.unreferenced = True
                if refs:
                    columns.update(letters for letters, _ in refs)
                    scan.max_row = max(scan.max_row, max(int(row) for _, row in refs))
                carry = data[cut:]
                if not chunk:
                    break
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError):
        raise DamagedFile from None
    if columns:
        numbers = [_column_number(letters) for letters in columns]
        scan.min_column, scan.max_column = min(numbers), max(numbers)
    return scan


class CalamineBook:
    """A workbook opened by calamine; each sheet is read once and its rows can be walked again."""

    def __init__(self, content: bytes):
        from python_calamine import CalamineWorkbook

        try:
            self.workbook = CalamineWorkbook.from_filelike(io.BytesIO(content))
        except BaseException as error:  # a Rust panic is a BaseException
            _reraise_interrupts(error)
            raise DamagedFile from None
        self.sheets: dict[str, Any] = {}

    def close(self) -> None:
        self.sheets.clear()
        self.workbook.close()

    def rows(self, title: str, max_col: int):
        """(row number, values) of every row holding a value, cells beyond ``max_col`` left out.

        Values as openpyxl gives them: None for an empty cell, a whole number below 10**15 as int, a date as
        a datetime at midnight, a text's leading apostrophe dropped (the caller checked no style is
        quote-prefixed).
        """
        try:
            if title not in self.sheets:
                self.sheets[title] = self.workbook.get_sheet_by_name(title)
            sheet = self.sheets[title]
            start = sheet.start
            source = sheet.iter_rows()
        except BaseException as error:
            _reraise_interrupts(error)
            raise DamagedFile from None
        if start is None:
            return
        first_col = start[1]
        keep = max(0, max_col - first_col)
        pad = [None] * first_col
        combine, midnight = datetime.combine, time()
        index = -1
        # iter_rows gives every row from the sheet's first (row 1), and the columns from the first used one.
        while True:
            try:
                cells = next(source)
            except StopIteration:
                return
            except BaseException as error:
                _reraise_interrupts(error)
                raise DamagedFile from None
            index += 1
            values: list[Any] = []
            present = False
            for value in cells[:keep]:
                kind = type(value)
                if kind is str:
                    if not value:
                        value = None
                    else:
                        present = True
                        if value[0] == "'":
                            value = value[1:]
                else:
                    present = True
                    if kind is float:
                        if value.is_integer() and -EXACT_FLOAT < value < EXACT_FLOAT:
                            value = int(value)
                    elif kind is date:
                        value = combine(value, midnight)
                values.append(value)
            if present:
                while values[-1] is None:
                    values.pop()
                yield index + 1, pad + values


def _reraise_interrupts(error: BaseException) -> None:
    if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        raise error
