"""Reading uploads: refused formats, header detection, blank rows, row limits, cell errors by row."""

from __future__ import annotations

from datetime import date

import pytest

from portal.io.columns import ImportColumn
from portal.io.reader import ImportFileError, check_file, read_sheet
from tests.conftest import xlsx_bytes

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
