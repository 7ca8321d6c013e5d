"""Small pure pieces: password policy, masking, pagination window, export neutralising, time."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from portal.auth.passwords import policy_errors
from portal.core.audit import diff
from portal.core.listing import Page
from portal.core.masking import mask_id_number, mask_name, mask_phone
from portal.core.timeutil import format_datetime, local_day_bounds, to_local
from portal.io.export import Column, neutralise, write_xlsx


@pytest.mark.parametrize("password,ok", [
    ("Kestrel1!", True), ("kestrel12", False), ("KESTREL1!", True), ("Abc1!", False), ("kestrel!1", True),
    ("zhangwei#2026A", False), ("Abcdef1!", False),  # the last: a common sequence with a digit and a symbol added
])
def test_password_policy(password, ok):
    assert (policy_errors(password, "zhangwei") == []) is ok


def test_masking():
    assert mask_name("张三") == "张*"
    assert mask_name("张小三") == "张*三"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_phone("13812341234") == "138****1234"
    assert mask_id_number("110101199001011234") == "1101**********1234"
    assert mask_name("") == mask_phone(None) == ""


def test_diff_keeps_only_changed_fields():
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {"b": {"before": 2, "after": 3},
                                                              "c": {"before": None, "after": 4}}


def test_page_window_has_gaps():
    page = Page(items=[], page=6, per_page=20, total=400)
    assert page.window() == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert (page.first_index, page.last_index) == (101, 120)


@pytest.mark.parametrize("value", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\t=x"])
def test_formula_like_text_is_neutralised(value):
    assert neutralise(value) == "'" + value


def test_export_writes_typed_cells_and_neutralises():
    rows = [{"name": "=cmd|' /C calc'!A0", "n": 3, "d": date(2026, 11, 23)}]
    content = write_xlsx([Column("名称", lambda r: r["name"]), Column("数量", lambda r: r["n"]),
                          Column("日期", lambda r: r["d"])], rows)
    sheet = load_workbook(io.BytesIO(content)).active
    assert [c.value for c in sheet[1]] == ["名称", "数量", "日期"]
    name, number, day = sheet[2]
    # Text with Excel's quote prefix, the value itself unchanged (not a formula, no apostrophe added).
    assert (name.value, name.data_type, name.quotePrefix) == ("=cmd|' /C calc'!A0", "s", True)
    number, day = number.value, day.value
    assert number == 3
    assert day == datetime(2026, 11, 23)
    assert sheet.freeze_panes == "A2"


def test_time_is_shown_in_beijing():
    utc = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert format_datetime(utc) == "2026-11-23 17:00"
    assert to_local(utc).utcoffset().total_seconds() == 8 * 3600
    start, end = local_day_bounds(date(2026, 11, 23))
    assert start == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("target,expected", [
    ("/admin/users?q=1", "/admin/users?q=1"), ("https://evil.example/", "/"), ("//evil.example", "/"),
    ("/\\evil", "/"), ("", "/"), ("javascript:alert(1)", "/"),
])
def test_safe_next(app, target, expected):
    from portal.auth.views import safe_next

    with app.test_request_context():
        assert safe_next(target) == expected


def test_beds_read_as_people_say_them():
    from portal.core.templating import bed

    assert [bed("12"), bed("12床"), bed(" 3 "), bed(""), bed(None)] == ["12床", "12床", "3床", "", ""]


def test_streamed_export_keeps_types_styles_and_text_safe():
    """The streaming writer (big exports) gives the same cells openpyxl's writer gave."""
    from decimal import Decimal

    rows = [{"t": " =x ", "n": Decimal("2.50"), "d": datetime(2026, 11, 23, 9, 30), "e": "#N/A"},
            {"t": "a\x01b<&>", "n": 7, "d": None, "e": "'引号"}]
    columns = [Column("文本", lambda r: r["t"]), Column("数量", lambda r: r["n"], number_format="0.00"),
               Column("时间", lambda r: r["d"]), Column("其他", lambda r: r["e"])]
    content = write_xlsx(columns, rows, sheet_title="名单", title_lines=["某医院 名单"])
    book = load_workbook(io.BytesIO(content))
    sheet = book.active
    assert sheet.title == "名单" and sheet.freeze_panes == "A3"
    assert sheet["A1"].value == "某医院 名单" and sheet["A1"].font.b
    assert sheet["A2"].font.b and sheet["A2"].fill.fgColor.rgb.endswith("DDE6F5")
    assert [c.value for c in sheet[3]] == [" =x ", 2.5, datetime(2026, 11, 23, 9, 30), "#N/A"]
    assert sheet["B3"].number_format == "0.00" and sheet["C3"].number_format == "yyyy-mm-dd hh:mm"
    assert (sheet["A3"].quotePrefix, sheet["D3"].quotePrefix, sheet["D3"].data_type) == (False, True, "s")
    assert [c.value for c in sheet[4]] == ["ab<&>", 7, None, "'引号"]  # control characters XML cannot carry dropped
    assert sheet["D4"].quotePrefix and sheet.column_dimensions["A"].width == 14
