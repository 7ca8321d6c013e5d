"""Reading uploads: refused formats, header detection, blank rows, row limits, cell errors by row."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from datetime import date

import pytest
from openpyxl import load_workbook

from portal.io.columns import ImportColumn
from portal.io.export import Column, write_xlsx
from portal.io.reader import ImportFileError, check_archive, check_file, count_rows, read_sheet
from tests.conftest import xlsx_bytes
from tests.workbooks import DateNum, Formula, Num, Styled, raw_xlsx

COLUMNS = [ImportColumn("name", "姓名", required=True), ImportColumn("day", "日期", kind="date", required=True),
           ImportColumn("bed", "床号", aliases=("床位",))]




@pytest.mark.parametrize("name,content,message", [
    ("plan.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "另存为"),
    ("plan.xlsm", b"PK\x03\x04", "宏"),
    ("plan.csv", b"a,b", ".xlsx"),
    ("plan.xlsx", "姓名,日期\n张三,2026-11-23".encode(), "CSV"),
    ("plan.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le"), "密码"),
    ("plan.xlsx", b"PK\x03\x04broken", "损坏"),
])
def test_refused_files_say_why(name, content, message):
    with pytest.raises(ImportFileError, match=message):
        check_file(name, content, 10 * 1024 * 1024)


def test_oversized_file_is_refused():
    with pytest.raises(ImportFileError, match="MB"):
        check_file("a.xlsx", b"PK\x03\x04" + b"0" * 2048, 1024)


def test_header_below_a_title_row_with_aliases_and_trailing_blanks():
    content = xlsx_bytes([["次日服务计划（2026-11-24）"], [], ["姓 名", "日期", "床位", "多余列"],
                        ["张三", "2026/11/24", "12"], [None, None, None], ["李四", 46350, 13], [], [None, " "]])
    check_file("plan.xlsx", content, 10 * 1024 * 1024)
    sheet = read_sheet(content, COLUMNS, max_rows=100)
    assert sheet.header_row == 3 and sheet.unknown_headers == ["多余列"]
    assert [(r.row_number, r.values) for r in sheet.rows] == [
        (4, {"name": "张三", "day": date(2026, 11, 24), "bed": "12"}),
        (6, {"name": "李四", "day": date(2026, 11, 24), "bed": "13"}),
    ]


def test_cell_errors_are_collected_per_row():
    sheet = read_sheet(xlsx_bytes([["姓名", "日期"], ["", "明天"], ["王五", "2026-11-24"]]), COLUMNS, max_rows=10)
    first, second = sheet.rows
    assert [(e[0], e[2]) for e in first.errors] == [
        ("姓名", "必填项为空"), ("日期", "日期“明天”格式不正确，应为 2026-11-23 等格式")]
    assert second.ok


def test_missing_required_column_and_row_limit():
    with pytest.raises(ImportFileError, match="缺少必填列：日期"):
        read_sheet(xlsx_bytes([["姓名"], ["张三"]]), COLUMNS, max_rows=10)
    with pytest.raises(ImportFileError, match="超过 2 行"):
        read_sheet(xlsx_bytes([["姓名", "日期"]] + [["a", "2026-11-24"]] * 3), COLUMNS, max_rows=2)


def test_named_sheet():
    with pytest.raises(ImportFileError, match="没有名为"):
        read_sheet(xlsx_bytes([["姓名", "日期"]]), COLUMNS, max_rows=10, sheet="计划")


# Workbooks as LibreOffice and hospital systems leave them (see tests/workbooks.py).

ID_COLUMNS = [ImportColumn("name", "姓名", required=True), ImportColumn("id_number", "证件号码", required=True),
              ImportColumn("day", "出生日期", kind="date"), ImportColumn("active", "在职", kind="bool")]


def test_an_id_number_read_as_a_number_is_a_row_error_and_a_yyyymmdd_number_a_date():
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码", "出生日期"],
                                   ["张三", Num("1.10105199001011E+017"), 19900101],
                                   ["李四", "11010519900101123X", Num("20261340")],
                                   ["王五", "11010519900101123X", DateNum("19900101")],  # shown as ### in Excel
                                   ["赵六", "11010519900101123X", DateNum("32874")]]})
    first, second, third, fourth = read_sheet(content, ID_COLUMNS, max_rows=10).rows
    assert third.values["day"] == fourth.values["day"] == date(1990, 1, 1) and third.ok
    assert first.errors == [("证件号码", 1.10105199001011e17,
                             "读到的是数字 110105199001011000，超过 15 位的数字在 Excel 中会丢失末尾几位："
                             "请把该列设置为文本格式后重新填写")]
    assert first.values["day"] == date(1990, 1, 1)
    assert second.values["id_number"] == "11010519900101123X"
    assert second.errors == [("出生日期", 20261340, "日期“20261340”不存在")]


def test_headers_with_hints_match_their_columns():
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码", "出生日期(yyyy-mm-dd)", "在职（是/否）"],
                                   ["张三", "11010519900101123X", "1990-01-01", "否"]]})
    sheet = read_sheet(content, ID_COLUMNS, max_rows=10)
    assert sheet.unknown_headers == []
    assert sheet.rows[0].values == {"name": "张三", "id_number": "11010519900101123X", "day": date(1990, 1, 1),
                                    "active": False}


@pytest.mark.parametrize("header,meant", [("在职状态", "在职"), ("证件号吗", "证件号码"), ("出生日起", "出生日期")])
def test_an_unknown_column_that_resembles_a_missing_one_is_an_error_naming_it(header, meant):
    row = ["姓名", "证件号码", "出生日期", "在职"]
    row[next(i for i, h in enumerate(row) if h == meant)] = header
    content = raw_xlsx({"Sheet1": [row, ["张三", "11010519900101123X", "1990-01-01", "否"]]})
    with pytest.raises(ImportFileError, match=f"“{header}”无法识别，是否应为“{meant}”"):
        read_sheet(content, ID_COLUMNS, max_rows=10)


def test_an_unrelated_extra_column_is_still_only_listed_and_a_repeated_one_refused():
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码", "职级", "家属电话", "出院日期", "在职"],
                                   ["张三", "11010519900101123X", "主任", "1", "2026-11-01", "是"]]})
    # 出院日期 is one letter from 出生日期 (absent here) but a different word: listed, not refused.
    assert read_sheet(content, ID_COLUMNS, max_rows=10).unknown_headers == ["职级", "家属电话", "出院日期"]
    with pytest.raises(ImportFileError, match="第 C 列“姓名”与第 A 列重复"):
        read_sheet(raw_xlsx({"Sheet1": [["姓名", "证件号码", "姓名"]]}), ID_COLUMNS, max_rows=10)


def test_error_cells_and_formulas_without_a_result_are_row_errors_never_text_or_blank():
    content = raw_xlsx({"Sheet1": [
        ["姓名", "证件号码", "出生日期"],
        ["张三", Formula("VLOOKUP(A2,X!A:B,2,0)", "#N/A", "e"), Formula("DATE(1990,1,1)", "32874")],
        [Formula("B9&\"\"", "#REF!", "e"), "11010519900101123X", Formula("DATE(1990,1,1)")],
        [Formula("\"王\"&\"五\"", "王五", "str"), Formula("TEXT(1,\"0\")"), "#VALUE!"],
    ]})
    first, second, third = read_sheet(content, ID_COLUMNS, max_rows=10).rows
    assert first.errors == [("证件号码", "#N/A", "单元格是错误值 #N/A（公式或引用出错），请改正后重新导入")]
    assert first.values["day"] == date(1990, 1, 1)  # a cached result is read like a typed value
    assert [(h, m) for h, _, m in second.errors] == [
        ("姓名", "单元格是错误值 #REF!（公式或引用出错），请改正后重新导入"),
        ("出生日期", "公式没有计算结果，请在 Excel 中打开并保存后重新导入（或把该列改为数值）")]
    assert third.values["name"] == "王五"  # a formula with its cached result reads as that result
    assert [h for h, _, _ in third.errors] == ["证件号码", "出生日期"]  # the text "#VALUE!" is not a date either


def test_a_two_level_header_with_merged_cells_is_read():
    content = raw_xlsx({"登记表": [["人员名单（2026 年 11 月）"],
                                 ["姓名", "身份信息", None, "在职（是/否）"],
                                 [None, "证件号码", "出生日期", None],
                                 ["张三", "11010519900101123X", "1990-01-01", "是"]]},
                       merges={"登记表": ("A1:D1", "A2:A3", "B2:C2", "D2:D3")})
    sheet = read_sheet(content, ID_COLUMNS, max_rows=10)
    assert sheet.header_row == 3
    assert sheet.rows[0].values == {"name": "张三", "id_number": "11010519900101123X", "day": date(1990, 1, 1),
                                    "active": True}


def test_cells_merged_down_over_data_rows_are_errors_on_every_row_they_cover():
    content = raw_xlsx({"名单": [["姓名", "日期", "床号"],
                                ["张三", "2026-11-23", "3床"],
                                ["李四", "2026-11-23", None],
                                ["王五", "2026-11-24", "5床"],
                                ["赵六", "2026-11-24", "6床"]]},
                       merges={"名单": ("B2:B3", "C4:C4", "A5:C5")})
    sheet = read_sheet(content, COLUMNS, max_rows=10)
    errors = {row.row_number: [(header, message) for header, _, message in row.errors] for row in sheet.rows}
    merged = "第 2–3 行的单元格 B2:B3 是合并单元格，只有第一行有值：请取消合并，在每一行填写后重新导入"
    assert errors[2] == [("日期", merged)] and errors[3] == [("日期", merged)]
    assert errors[4] == [] and errors[5] == []  # one cell, or cells merged across a row, read as they are


def test_the_sheet_with_the_header_is_found_behind_an_instructions_sheet():
    instructions = [["填写说明"], ["1. 证件号码列请设置为文本格式"], ["2. 姓名、证件号码为必填"]]
    content = raw_xlsx({"填写说明": instructions,
                        "数据": [[], [], ["说明：姓名必填"], [], ["姓名", "证件号码"], ["张三", "11010519900101123X"]]})
    sheet = read_sheet(content, ID_COLUMNS, max_rows=10)
    assert (sheet.sheet_name, sheet.header_row, len(sheet.rows)) == ("数据", 5, 1)


def test_export_then_import_gives_the_same_values():
    values = ["=2+3", "+86 138 0013 8000", "-5", "@x", "'引号开头", "#N/A", "普通"]
    content = write_xlsx([Column("姓名", lambda v: v), Column("证件号码", lambda v: "11010519900101123X")], values,
                         title_lines=["某医院 人员名单", "筛选条件：全部"])
    sheet = load_workbook(io.BytesIO(content)).active
    cell = sheet["A4"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == ("=2+3", "s", True)  # text, not a formula
    assert [r.values["name"] for r in read_sheet(content, ID_COLUMNS, max_rows=10).rows] == values


def test_an_apostrophe_from_an_old_export_is_dropped_unless_the_cell_is_quote_prefixed():
    old = xlsx_bytes([["姓名", "证件号码"], ["'=2+3", "'11010519900101123X"]])
    assert read_sheet(old, ID_COLUMNS, max_rows=10).rows[0].values == {
        "name": "=2+3", "id_number": "11010519900101123X"}


# Hostile files: bounded before and while reading.

def _bomb(megabytes: int) -> bytes:
    row = '<row r="{0}"><c r="A{0}" t="inlineStr"><is><t>{1}</t></is></c></row>'
    filler = "".join(row.format(r, "张三" * 20) for r in range(2, 2000)).encode()
    body = filler * (megabytes * 1024 * 1024 // len(filler) + 1)
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>\xe5\xa7\x93\xe5\x90\x8d'
             b'</t></is></c></row>' + body + b"</sheetData></worksheet>")
    return raw_xlsx({"Sheet1": []}, big_parts={"Sheet1": sheet})


def test_a_workbook_that_inflates_beyond_the_cap_is_refused_without_inflating_it():
    content = _bomb(24)
    assert len(content) < 1024 * 1024  # a small upload...
    tracemalloc.start()
    try:
        with pytest.raises(ImportFileError, match="解压后超过 8 MB"):
            read_sheet(content, ID_COLUMNS, max_rows=10, max_inflated_mb=8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024  # ...refused without inflating its 24 MB


def test_shared_strings_read_whole_may_take_only_a_quarter_of_the_cap():
    strings = "".join(f"<si><t>{n:08d}</t></si>" for n in range(150_000))  # 3 MB of distinct strings
    content = raw_xlsx({"Sheet1": [["姓名"], ["张三"]]})
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/sharedStrings.xml":
                data = data.replace(b"</sst>", strings.encode() + b"</sst>")
            target.writestr(info.filename, data)
    check_archive(buffer.getvalue(), 16)
    with pytest.raises(ImportFileError, match=r"“xl/sharedStrings\.xml”解压后约 3 MB，超过 2 MB"):
        check_archive(buffer.getvalue(), 8)


def test_a_part_with_an_absurd_compression_ratio_is_refused_below_the_cap():
    filler = b"<row/>" * (8 * 1024 * 1024 // 6)
    content = raw_xlsx({"Sheet1": []}, big_parts={"Sheet1": filler})
    with pytest.raises(ImportFileError, match="压缩比异常"):
        check_archive(content, 200)


def test_a_styled_cell_at_xfd1048576_is_refused_by_the_declared_range():
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["张三", "11010519900101123X"]]},
                       extra={"Sheet1": {"XFD1048576": Styled()}})
    assert len(content) < 5 * 1024
    with pytest.raises(ImportFileError, match="使用范围是 A1:XFD1048576，超出本导入允许的 256 列、10040 行"):
        read_sheet(content, ID_COLUMNS, max_rows=10)


def test_without_a_declared_range_far_cells_cost_one_row_not_a_million(monkeypatch):
    from portal.io import reader

    visited = []
    original = reader._SheetParser.parse_row
    monkeypatch.setattr(reader._SheetParser, "parse_row", lambda self, row: visited.append(1) or original(self, row))
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["张三", "11010519900101123X"]]},
                       extra={"Sheet1": {"XFD1048576": Styled(), "C1048576": Styled()}}, dimensions={"Sheet1": None})
    sheet = read_sheet(content, ID_COLUMNS, max_rows=10)
    assert [r.values["name"] for r in sheet.rows] == ["张三"]
    assert len(visited) <= 2 * 3  # the header scan and the read each see the sheet's three rows


def test_reading_stops_at_the_first_row_beyond_the_cap(monkeypatch):
    from portal.io import reader

    visited = []
    original = reader._SheetParser.parse_row
    monkeypatch.setattr(reader._SheetParser, "parse_row", lambda self, row: visited.append(1) or original(self, row))
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"]] + [["张三", "11010519900101123X"]] * 2000},
                       dimensions={"Sheet1": None})
    with pytest.raises(ImportFileError, match="超过 50 行"):
        read_sheet(content, ID_COLUMNS, max_rows=50)
    assert len(visited) <= 31 + 52  # the header scan (31 rows to know it ended), then the header and 51 rows
    assert count_rows(content, ID_COLUMNS, max_rows=50) == 51


def test_a_flood_of_formatted_rows_far_below_is_refused_after_a_few(monkeypatch):
    from portal.io import reader

    visited = []
    original = reader._SheetParser.parse_row
    monkeypatch.setattr(reader._SheetParser, "parse_row", lambda self, row: visited.append(1) or original(self, row))
    far = {f"A{r}": Styled() for r in range(500_000, 505_000)}
    content = raw_xlsx({"Sheet1": [["姓名", "证件号码"], ["张三", "11010519900101123X"]]}, extra={"Sheet1": far},
                       dimensions={"Sheet1": None})
    with pytest.raises(ImportFileError, match="在第 10040 行之后还有大量带格式的空行"):
        read_sheet(content, ID_COLUMNS, max_rows=10)
    assert len(visited) <= 31 + 2 + reader.FAR_ROWS + 1


def test_a_part_longer_than_its_declared_size_is_a_damaged_file_not_a_crash():
    import struct

    rows = [["姓名", "证件号码"]] + [["张三", "11010519900101123X"]] * 3000
    data = bytearray(raw_xlsx({"Sheet1": rows}))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    declared = info.file_size - 100  # the part holds more than it says: found only at its end, mid-read
    struct.pack_into("<I", data, info.header_offset + 22, declared)  # the local header's uncompressed size
    central = data.find(b"xl/worksheets/sheet1.xml", data.find(b"PK\x01\x02")) - 46
    struct.pack_into("<I", data, central + 24, declared)  # ...and the central directory's
    with pytest.raises(ImportFileError, match="损坏"):
        read_sheet(bytes(data), ID_COLUMNS, max_rows=10_000)
