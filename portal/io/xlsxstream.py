"""A streaming .xlsx writer for big exports: one sheet, typed cells, a few shared styles.

openpyxl's write-only mode builds a cell object and an element per cell (about 7,000 rows a second);
this writer renders each row straight to XML text into a deflated zip member, so 100,000 rows take
seconds and memory stays flat in the row count (only the compressed file grows). It writes what the
exports need: column widths, frozen header, bold header with a fill, number formats, and text that
stays text (inline strings; Excel's quote prefix on text a spreadsheet would run as a formula).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from openpyxl.cell.cell import ERROR_CODES
from openpyxl.utils import get_column_letter

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")  # what XML 1.0 cannot carry (as openpyxl)
EPOCH = datetime(1899, 12, 30)
EPOCH_DATE = EPOCH.date()
QUOTED_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "'")
HEADER_FILL = "FFDDE6F5"
FLUSH_ROWS = 500


class _Styles:
    """The cell formats used, numbered in order of first use: (bold, fill, number format, quote prefix)."""

    def __init__(self):
        self.xfs: dict[tuple, int] = {(False, False, None, False): 0}
        self.formats: dict[str, int] = {}

    def index(self, bold: bool = False, fill: bool = False, number_format: str | None = None,
              quote: bool = False) -> int:
        key = (bold, fill, number_format, quote)
        found = self.xfs.get(key)
        if found is None:
            if number_format is not None and number_format not in self.formats:
                self.formats[number_format] = 164 + len(self.formats)
            found = self.xfs[key] = len(self.xfs)
        return found

    def xml(self) -> str:
        formats = "".join(f'<numFmt numFmtId="{i}" formatCode={quoteattr(code)}/>' for code, i in self.formats.items())
        xfs = []
        for bold, fill, number_format, quote in self.xfs:
            attrs = (f'numFmtId="{self.formats[number_format] if number_format else 0}" fontId="{int(bold)}" '
                     f'fillId="{2 if fill else 0}" borderId="0" xfId="0"')
            if number_format:
                attrs += ' applyNumberFormat="1"'
            if bold:
                attrs += ' applyFont="1"'
            if fill:
                attrs += ' applyFill="1" applyAlignment="1"'
            if quote:
                attrs += ' quotePrefix="1"'
            xfs.append(f'<xf {attrs}><alignment vertical="center"/></xf>' if fill else f"<xf {attrs}/>")
        return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{MAIN_NS}">'
                + (f'<numFmts count="{len(self.formats)}">{formats}</numFmts>' if self.formats else "")
                + '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
                  '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
                  '<fills count="3"><fill><patternFill patternType="none"/></fill>'
                  '<fill><patternFill patternType="gray125"/></fill>'
                  f'<fill><patternFill patternType="solid"><fgColor rgb="{HEADER_FILL}"/></patternFill></fill></fills>'
                  '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
                  '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                  f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
                  '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
                  "</styleSheet>")


class SheetWriter:
    """Rows to one sheet, written as they come. `cell_xml` renders one value; rows go out every FLUSH_ROWS."""

    def __init__(self, stream, styles: _Styles):
        self.stream = stream
        self.styles = styles
        self.letters: list[str] = []
        self.row = 0
        self.pending: list[str] = []

    def _letter(self, index: int) -> str:
        while len(self.letters) <= index:
            self.letters.append(get_column_letter(len(self.letters) + 1))
        return self.letters[index]

    def text(self, ref: str, value: str, style: int) -> str:
        if value.startswith(QUOTED_PREFIXES) or value in ERROR_CODES:
            style = self.styles.index(*self.style_key(style), quote=True)
        value = ILLEGAL.sub("", value)
        space = ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() else ""
        return f'<c r="{ref}" t="inlineStr"{f" s={chr(34)}{style}{chr(34)}" if style else ""}><is><t{space}>' \
               f"{escape(value)}</t></is></c>"

    def style_key(self, style: int) -> tuple:
        for key, index in self.styles.xfs.items():
            if index == style:
                return key[:3]
        return (False, False, None)

    def append(self, values: list[Any], styles: list[int]) -> None:
        """One row: each value with its style index (0 = none; a date needs a style with a date format)."""
        self.row += 1
        row = self.row
        out = [f'<row r="{row}">']
        for index, value in enumerate(values):
            if value is None or value == "":  # as openpyxl: an empty text is an empty cell
                continue
            ref = f"{self._letter(index)}{row}"
            style = styles[index]
            s = f' s="{style}"' if style else ""
            if isinstance(value, str):
                out.append(self.text(ref, value, style))
            elif isinstance(value, datetime):
                delta = value - EPOCH
                serial = delta.days + delta.seconds / 86400 + delta.microseconds / 86_400_000_000
                out.append(f'<c r="{ref}"{s}><v>{serial!r}</v></c>')
            elif isinstance(value, date):
                out.append(f'<c r="{ref}"{s}><v>{(value - EPOCH_DATE).days}</v></c>')
            elif isinstance(value, bool):
                out.append(f'<c r="{ref}" t="b"{s}><v>{int(value)}</v></c>')
            elif isinstance(value, (int, float, Decimal)):
                out.append(f'<c r="{ref}" t="n"{s}><v>{value}</v></c>')
            else:
                out.append(self.text(ref, str(value), style))
        out.append("</row>")
        self.pending.append("".join(out))
        if len(self.pending) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.stream.write("".join(self.pending).encode("utf-8"))
            self.pending.clear()


def write_stream(widths: list[int], header: list[str], rows: Iterable[tuple[list[Any], list[str | None]]],
                 sheet_title: str, title_lines: list[str]) -> bytes:
    """Title lines (bold), a header (bold, filled, frozen), then `rows`: (values, number formats) per row."""
    styles = _Styles()
    buffer = io.BytesIO()
    header_row = len(title_lines) + 1
    name = re.sub(r"[\[\]:*?/\\]", "", sheet_title)[:31] or "数据"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                         f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><bookViews><workbookView/></bookViews>'
                         f'<sheets><sheet name={quoteattr(name)} sheetId="1" r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as stream:
            cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                           for i, w in enumerate(widths, start=1))
            stream.write((f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                          f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheetViews>'
                          f'<sheetView workbookViewId="0"><pane ySplit="{header_row}" '
                          f'topLeftCell="A{header_row + 1}" activePane="bottomLeft" state="frozen"/>'
                          '<selection pane="bottomLeft"/></sheetView></sheetViews>'
                          f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>').encode())
            sheet = SheetWriter(stream, styles)
            bold = styles.index(bold=True)
            for line in title_lines:
                sheet.append([line], [bold])
            head = styles.index(bold=True, fill=True)
            sheet.append(list(header), [head] * len(header))
            by_format: dict[str | None, int] = {None: 0}
            for values, formats in rows:
                row_styles = []
                for number_format in formats:
                    style = by_format.get(number_format)
                    if style is None:
                        style = by_format[number_format] = styles.index(number_format=number_format)
                    row_styles.append(style)
                sheet.append(values, row_styles)
            sheet.flush()
            stream.write(b"</sheetData></worksheet>")
        archive.writestr("xl/styles.xml", styles.xml())
    return buffer.getvalue()


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>')
_ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{REL_NS}/styles" Target="styles.xml"/></Relationships>')
