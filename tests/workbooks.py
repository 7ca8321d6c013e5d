"""Workbooks written part by part, the way LibreOffice (or a hospital system) leaves them on disk.

openpyxl always writes what it is given; the files ward staff upload hold numbers where text was meant,
error values, formulas without a cached result, merged two-level headers, instructions sheets and
styled cells far from the data. These helpers write such parts directly.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter, range_boundaries


@dataclass(frozen=True)
class Num:
    """A number cell with its <v> text exactly as the application wrote it (1.10105199001011E+017)."""

    text: str


@dataclass(frozen=True)
class DateNum:
    """A number cell formatted as a date (yyyy-mm-dd), as Excel keeps a date typed into a cell."""

    text: str


@dataclass(frozen=True)
class Formula:
    """A formula cell; ``cached`` None leaves out <v>, as a file never opened in a spreadsheet has it."""

    text: str
    cached: str | None = None
    kind: str = "n"  # n, str, e


@dataclass(frozen=True)
class Styled:
    """An empty cell carrying a style (a border or a fill), as formatting leaves behind."""


SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
CONTENT_TYPES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="{SML}.sheet.main+xml"/>
<Override PartName="/xl/styles.xml" ContentType="{SML}.styles+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="{SML}.sharedStrings+xml"/>
{{sheets}}
</Types>"""
ROOT_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
 Target="xl/workbook.xml"/>
</Relationships>"""
STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="1"><font><sz val="10"/><name val="Arial"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>
<border><left style="thin"/><right style="thin"/><top style="thin"/><bottom style="thin"/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="0" fontId="0" fillId="0" borderId="1" applyBorder="true" xfId="0"/>
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" applyNumberFormat="true" quotePrefix="true" xfId="0"/>
<xf numFmtId="14" fontId="0" fillId="0" borderId="0" applyNumberFormat="true" xfId="0"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class _Strings:
    def __init__(self):
        self.index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        return self.index.setdefault(text, len(self.index))

    def xml(self) -> str:
        items = "".join(f'<si><t xml:space="preserve">{escape(t)}</t></si>' for t in self.index)
        count = len(self.index)
        return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{MAIN}" count="{count}" '
                f'uniqueCount="{count}">{items}</sst>')


def _cell(ref: str, value, strings: _Strings) -> str:
    if value is None:
        return ""
    if isinstance(value, Styled):
        return f'<c r="{ref}" s="1"/>'
    if isinstance(value, DateNum):
        return f'<c r="{ref}" s="3" t="n"><v>{value.text}</v></c>'
    if isinstance(value, Num):
        return f'<c r="{ref}" s="0" t="n"><v>{value.text}</v></c>'
    if isinstance(value, Formula):
        cached = "" if value.cached is None else f"<v>{escape(value.cached)}</v>"
        kind = "" if value.kind == "n" else f' t="{value.kind}"'
        return f'<c r="{ref}" s="0"{kind}><f>{escape(value.text)}</f>{cached}</c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" s="0" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}" s="0" t="n"><v>{value!r}</v></c>'
    return f'<c r="{ref}" s="0" t="s"><v>{strings(str(value))}</v></c>'


def sheet_xml(rows: list[list], strings: _Strings, *, extra: dict[str, object] | None = None,
              dimension: str | None = "auto", merges: tuple[str, ...] = ()) -> str:
    """A worksheet part: ``rows`` from A1 down, ``extra`` cells by reference (sorted into their rows)."""
    cells: dict[int, dict[int, object]] = {}
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                cells.setdefault(r, {})[c] = value
    for ref, value in (extra or {}).items():
        c, r, _, _ = range_boundaries(ref)
        cells.setdefault(r, {})[c] = value
    if dimension == "auto":
        last_row = max(cells or {1: None})
        last_col = max((c for row in cells.values() for c in row), default=1)
        dimension = f"A1:{get_column_letter(last_col)}{last_row}"
    body = "".join(
        f'<row r="{r}" customFormat="false" ht="12.8" hidden="false" customHeight="false" outlineLevel="0" '
        f'collapsed="false">' + "".join(_cell(f"{get_column_letter(c)}{r}", v, strings) for c, v in sorted(row.items()))
        + "</row>" for r, row in sorted(cells.items()))
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    merged = (f'<mergeCells count="{len(merges)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in merges)
              + "</mergeCells>") if merges else ""
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}" xmlns:r="{REL}">'
            f'{dim}<sheetViews><sheetView workbookViewId="0"/></sheetViews><sheetFormatPr defaultRowHeight="12.8"/>'
            f"<sheetData>{body}</sheetData>{merged}</worksheet>")


def raw_xlsx(sheets: dict[str, list[list]], *, extra: dict[str, dict] | None = None,
             dimensions: dict[str, str | None] | None = None, merges: dict[str, tuple[str, ...]] | None = None,
             big_parts: dict[str, bytes] | None = None) -> bytes:
    """A workbook of the named sheets (in order). ``big_parts`` replace a sheet's XML outright."""
    strings = _Strings()
    parts = {}
    for number, (name, rows) in enumerate(sheets.items(), start=1):
        parts[f"xl/worksheets/sheet{number}.xml"] = (big_parts or {}).get(name) or sheet_xml(
            rows, strings, extra=(extra or {}).get(name), dimension=(dimensions or {}).get(name, "auto"),
            merges=(merges or {}).get(name, ())).encode()
    names = list(sheets)
    workbook = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{MAIN}" xmlns:r="{REL}">'
                "<sheets>" + "".join(f'<sheet name="{escape(n)}" sheetId="{i}" state="visible" r:id="rId{i + 2}"/>'
                                     for i, n in enumerate(names, start=1)) + "</sheets></workbook>")
    rels = ('<?xml version="1.0" encoding="UTF-8"?>\n<Relationships '
            'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
            'Target="styles.xml"/><Relationship Id="rId2" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
            'Target="sharedStrings.xml"/>'
            + "".join(f'<Relationship Id="rId{i + 2}" '
                      'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                      f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(names) + 1)) + "</Relationships>")
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                        for i in range(1, len(names) + 1))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES.format(sheets=overrides))
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        archive.writestr("xl/styles.xml", STYLES)
        for name, data in parts.items():
            archive.writestr(name, data)
        archive.writestr("xl/sharedStrings.xml", strings.xml())  # after the sheets: they fill the table
    return buffer.getvalue()
