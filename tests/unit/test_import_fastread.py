"""The calamine reader (portal/io/fastread.py): the same cells as openpyxl gives them, and the sheets it must
leave to openpyxl (error cells, formulas without a result, quote-prefixed text, cells far away or unnamed)."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from portal.io import fastread
from portal.io.columns import ImportColumn
from portal.io.reader import ImportFileError, count_rows, read_sheet
from tests.workbooks import DateNum, Formula, Num, Styled, raw_xlsx

COLUMNS = [ImportColumn("name", "姓名", required=True), ImportColumn("id_number", "证件号码", required=True),
           ImportColumn("day", "出生日期", kind="date"), ImportColumn("at", "登记时间", kind="datetime"),
           ImportColumn("active", "在职", kind="bool"), ImportColumn("count", "次数", kind="int"),
           ImportColumn("note", "备注")]
TEXT_FORMAT = "请把该列设置为文本格式"


def _openpyxl_book(rows: list[list]) -> bytes:
    """A workbook as openpyxl writes it (no quote-prefixed style: a leading apostrophe is not part of a text)."""
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _both(content: bytes, monkeypatch, columns=COLUMNS, max_rows: int = 100):
    """The sheet read by calamine, and the same sheet read by openpyxl (calamine given no cells to spend)."""
    fast = read_sheet(content, columns, max_rows=max_rows)
    with monkeypatch.context() as patch:
        patch.setattr(fastread, "MAX_CELLS", 0)
        slow = read_sheet(content, columns, max_rows=max_rows)
    assert slow.engine == "openpyxl"
    return fast, slow


def _rows(sheet) -> list[tuple]:
    # A text of spaces only, stored without xml:space="preserve", is "" to calamine: a blank cell either way.
    def raw(value):
        return None if isinstance(value, str) and not value.strip() else value

    def trimmed(values):
        values = [raw(v) for v in values]
        while values and values[-1] is None:
            values.pop()
        return values

    return [(r.row_number, r.values, r.errors, trimmed(r.raw)) for r in sheet.rows]


ROWS = [
    ["人员名单"],
    [],
    ["姓名", "证件号码", "出生日期", "登记时间", "在职", "次数", "备注"],
    ["张三", "11010519900101123X", date(1990, 1, 1), datetime(2026, 11, 23, 8, 30), True, 3, "'=2+3"],
    ["李四", 1.10105199001011e17, 19900101, "2026-11-23 08:30", "否", 3.0, "  "],
    [],
    ["王五", 110105199001011, "1990/1/1", 46349.5, False, "4", "'"],
    ["赵六", 1001, "19900101", datetime(2026, 11, 23), None, None, 12.5],
]


def test_a_plain_workbook_is_read_by_calamine_with_the_values_openpyxl_gives(monkeypatch):
    fast, slow = _both(_openpyxl_book(ROWS), monkeypatch)
    assert fast.engine == "calamine"
    assert _rows(fast) == _rows(slow)
    assert (fast.header_row, fast.unknown_headers, fast.header_cells) == (slow.header_row, [], slow.header_cells)
    first, second, third, fourth = fast.rows
    assert first.values == {"name": "张三", "id_number": "11010519900101123X", "day": date(1990, 1, 1),
                            "at": datetime(2026, 11, 23, 8, 30), "active": True, "count": 3, "note": "=2+3"}
    assert first.raw[2] == datetime(1990, 1, 1)  # a date cell comes as a datetime, as openpyxl gives it
    assert second.values["day"] == date(1990, 1, 1) and second.values["count"] == 3  # yyyymmdd typed as a number
    assert [(h, m) for h, _, m in second.errors] == [("证件号码", "读到的是数字 110105199001011000，超过 15 位的数字"
                                                               f"在 Excel 中会丢失末尾几位：{TEXT_FORMAT}后重新填写")]
    assert TEXT_FORMAT in third.errors[0][2] and third.values["at"] == datetime(2026, 11, 23, 12)  # 15 digits
    assert third.raw[1] == 110105199001011 and isinstance(third.raw[1], int)  # a whole number stays an int
    assert fourth.values["id_number"] == "1001" and fourth.values["note"] == "12.5"


def test_an_id_number_typed_as_a_number_is_a_row_error_from_calamine():
    content = _openpyxl_book([["姓名", "证件号码"], ["张三", 110105199001011234], ["李四", 1.10105199001011e17]])
    sheet = read_sheet(content, COLUMNS, max_rows=10)
    assert sheet.engine == "calamine"
    assert all(TEXT_FORMAT in r.errors[0][2] and r.errors[0][0] == "证件号码" for r in sheet.rows)


def test_yyyymmdd_numbers_and_dates_in_date_formatted_cells(monkeypatch):
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码", "出生日期", "登记时间"],
                                   ["张三", "A1", DateNum("32874"), DateNum("46349.25")],
                                   ["李四", "A2", DateNum("19900101"), Num("20261123")],  # shown as ### in Excel
                                   ["王五", "A3", Num("20261340"), None]]})
    fast, slow = _both(content, monkeypatch)
    assert fast.engine == "calamine" and _rows(fast) == _rows(slow)
    first, second, third = fast.rows
    assert first.values["day"] == date(1990, 1, 1) and first.values["at"] == datetime(2026, 11, 23, 6)
    assert second.values["day"] == date(1990, 1, 1) and second.values["at"] == datetime(2026, 11, 23)
    assert third.errors == [("出生日期", 20261340, "日期“20261340”不存在")]


def test_error_cells_are_left_to_openpyxl_and_are_row_errors():
    # calamine gives an error cell as "", the same as an empty cell: the sheet's XML is what tells them apart.
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["张三", Formula("VLOOKUP(A2,X!A:B,2,0)", "#N/A", "e")],
                                   ["李四", "A2"]]})
    scan = fastread.scan_sheet(content, "xl/worksheets/sheet1.xml")
    assert scan.errors and scan.reason(False, 256, None) == "error cells"
    sheet = read_sheet(content, COLUMNS, max_rows=10)
    assert sheet.engine == "openpyxl"
    assert sheet.rows[0].errors == [("证件号码", "#N/A", "单元格是错误值 #N/A（公式或引用出错），请改正后重新导入")]


def test_formulas_without_a_result_are_left_to_openpyxl_and_formulas_with_one_are_read_by_calamine(monkeypatch):
    cached = raw_xlsx({"Sheet1": [["姓名", "证件号码", "出生日期"],
                                  [Formula('"王"&"五"', "王五", "str"), "A1", Formula("DATE(1990,1,1)", "32874")]]})
    fast, slow = _both(cached, monkeypatch)
    assert fast.engine == "calamine" and _rows(fast) == _rows(slow)
    assert fast.rows[0].values["name"] == "王五" and fast.rows[0].ok
    for formula in (Formula("DATE(1990,1,1)"), Formula("DATE(1990,1,1)", "")):
        uncached = raw_xlsx({"Sheet1": [["姓名", "证件号码", "出生日期"], ["张三", "A1", formula]]})
        assert fastread.scan_sheet(uncached, "xl/worksheets/sheet1.xml").uncached
        sheet = read_sheet(uncached, COLUMNS, max_rows=10)
        assert sheet.engine == "openpyxl"
        assert [(h, m.startswith("公式没有计算结果")) for h, _, m in sheet.rows[0].errors] == [("出生日期", True)]


def test_a_leading_apostrophe_is_dropped_and_kept_only_in_a_quote_prefixed_cell():
    # Without a quote-prefixed style anywhere calamine drops it; with one, openpyxl tells the cells apart.
    plain = _openpyxl_book([["姓名", "证件号码"], ["'=2+3", "'11010519900101123X"]])
    sheet = read_sheet(plain, COLUMNS, max_rows=10)
    assert sheet.engine == "calamine"
    assert sheet.rows[0].values == {"name": "=2+3", "id_number": "11010519900101123X"}
    styled = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["'=2+3", "A1"]]})  # its styles have a quotePrefix xf
    assert fastread.book_info(styled).quoted
    sheet = read_sheet(styled, COLUMNS, max_rows=10)
    assert sheet.engine == "openpyxl" and sheet.rows[0].values["name"] == "=2+3"
    no_apostrophe = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["张三", "A1"]]})
    assert read_sheet(no_apostrophe, COLUMNS, max_rows=10).engine == "calamine"


def test_a_value_far_beyond_a_lying_declared_range_never_reaches_calamine():
    # calamine would allocate rows x columns cells for it (hundreds of GB): the process would abort.
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["张三", "A1"]]}, extra={"Sheet1": {"XFD1048576": "x"}},
                       dimensions={"Sheet1": "A1:B2"})
    scan = fastread.scan_sheet(content, "xl/worksheets/sheet1.xml")
    assert (scan.max_row, scan.max_column) == (1048576, 16384)
    assert scan.reason(False, 256, None) == "cells beyond the type's range"
    sheet = read_sheet(content, COLUMNS, max_rows=10)  # openpyxl: a column no import reads is not read
    assert sheet.engine == "openpyxl" and [r.values["name"] for r in sheet.rows] == ["张三"]
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["张三", "A1"]]}, extra={"Sheet1": {"B1048576": "x"}},
                       dimensions={"Sheet1": "A1:B2"})
    with pytest.raises(ImportFileError, match="数据超过 10 行"):
        read_sheet(content, COLUMNS, max_rows=10)


def test_a_sheet_over_the_cell_budget_is_streamed_by_openpyxl(monkeypatch):
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"]] + [["张三", f"A{n}"] for n in range(40)]},
                       extra={"Sheet1": {"H30": "x"}})
    assert fastread.scan_sheet(content, "xl/worksheets/sheet1.xml").cells() == 41 * 8
    assert read_sheet(content, COLUMNS, max_rows=100).engine == "calamine"
    monkeypatch.setattr(fastread, "MAX_CELLS", 41 * 8 - 1)
    sheet = read_sheet(content, COLUMNS, max_rows=100)
    assert sheet.engine == "openpyxl" and len(sheet.rows) == 40


def test_cells_without_a_reference_are_left_to_openpyxl():
    body = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main"><sheetData><row r="1"><c t="inlineStr"><is><t>姓名</t></is></c>'
            '<c t="inlineStr"><is><t>证件号码</t></is></c></row><row r="2"><c t="inlineStr"><is><t>张三</t></is></c>'
            '<c t="inlineStr"><is><t>A1</t></is></c></row></sheetData></worksheet>').encode()
    content = raw_xlsx({"Sheet1": []}, big_parts={"Sheet1": body})
    assert fastread.scan_sheet(content, "xl/worksheets/sheet1.xml").unreferenced
    sheet = read_sheet(content, COLUMNS, max_rows=10)
    assert sheet.engine == "openpyxl" and sheet.rows[0].values == {"name": "张三", "id_number": "A1"}


def test_the_scan_finds_what_it_looks_for_across_chunk_boundaries(monkeypatch):
    rows = [["姓名", "证件号码"]] + [["张三" * (n % 7), f"A{n}"] for n in range(300)]
    rows[150][1] = Formula("DATE(1990,1,1)")
    content = raw_xlsx({"Sheet1": rows}, extra={"Sheet1": {"K280": "x"}})
    for size in (17, 64, 1000):
        monkeypatch.setattr(fastread, "CHUNK", size)
        scan = fastread.scan_sheet(content, "xl/worksheets/sheet1.xml")
        assert (scan.max_row, scan.min_column, scan.max_column, scan.uncached, scan.unreferenced, scan.errors) == (
            301, 1, 11, True, False, False), size


def test_headers_instructions_sheets_two_level_headers_and_blank_rows_as_before(monkeypatch):
    instructions = [["填写说明"], ["1. 证件号码列请设置为文本格式"]]
    data = [[], ["人员名单（2026 年 11 月）"], ["姓名", "身份信息", None, "在职（是/否）"],
            [None, "证件号码", "出生日期", None], ["张三", "11010519900101123X", "1990-01-01", "是"], [],
            [None, Styled()], ["李四", "A2", None, "否"]]
    content = raw_xlsx({"填写说明": instructions, "登记表": data},
                       merges={"登记表": ("A2:D2", "A3:A4", "B3:C3", "D3:D4")})
    fast, slow = _both(content, monkeypatch)
    assert fast.engine == "calamine" and _rows(fast) == _rows(slow)
    assert (fast.sheet_name, fast.header_row, [r.row_number for r in fast.rows]) == ("登记表", 4, [5, 8])
    assert count_rows(content, COLUMNS) == 2


def test_hidden_sheets_and_the_named_sheet_come_from_the_workbook_part():
    content = raw_xlsx({"说明": [["说明"]], "数据": [["姓名", "证件号码"], ["张三", "A1"]]})
    info = fastread.book_info(content)
    assert info.sheetnames == ["说明", "数据"] and info["数据"].path == "xl/worksheets/sheet2.xml"
    assert (info["数据"].max_row, info["数据"].max_column) == (2, 2)
    assert read_sheet(content, COLUMNS, max_rows=10, sheet="数据").rows[0].values["name"] == "张三"
    with pytest.raises(ImportFileError, match="没有名为"):
        read_sheet(content, COLUMNS, max_rows=10, sheet="计划")


def test_one_long_shared_string_named_by_many_cells_is_streamed_by_openpyxl(monkeypatch):
    # calamine would copy the string into every cell; openpyxl shares one object.
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码", "备注"]] + [["张三", f"A{n}", "长" * 2000] for n in range(50)]})
    info = fastread.book_info(content)
    scan = fastread.scan_sheet(content, "xl/worksheets/sheet1.xml")
    assert scan.shared_cells == 153 and info.strings_longest > 6000
    assert read_sheet(content, COLUMNS, max_rows=100).engine == "calamine"
    monkeypatch.setattr(fastread, "MAX_STRING_BYTES", 100 * 6000)
    sheet = read_sheet(content, COLUMNS, max_rows=100)
    assert sheet.engine == "openpyxl" and sheet.rows[0].raw[2] == "长" * 2000


def test_a_sheet_larger_than_the_budget_is_streamed_by_openpyxl(monkeypatch):
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"]] + [["张三", f"A{n}"] for n in range(50)]})
    monkeypatch.setattr(fastread, "MAX_SHEET_BYTES", 1000)
    assert read_sheet(content, COLUMNS, max_rows=100).engine == "openpyxl"


def test_a_sheet_the_workbook_names_but_the_file_lacks_is_a_damaged_file():
    import zipfile

    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["张三", "A1"]]})
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                target.writestr(item.filename, source.read(item.filename))
    with pytest.raises(ImportFileError, match="损坏"):
        read_sheet(buffer.getvalue(), COLUMNS, max_rows=10)
