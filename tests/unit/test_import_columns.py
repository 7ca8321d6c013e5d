"""Cell parsing of the Excel import framework: the formats hospital spreadsheets really contain."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from portal.io.columns import CellError, ImportColumn, normalise_header, parse_date, parse_datetime, parse_int


@pytest.mark.parametrize("raw", [46349, 46349.0, "2026-11-23", "2026/11/23", "2026.11.23", "2026年11月23日",
                                 "20261123", " 2026-11-23 ", datetime(2026, 11, 23, 8, 30), date(2026, 11, 23),
                                 "２０２６－１１－２３"])
def test_dates_in_the_usual_forms(raw):
    assert parse_date(raw) == date(2026, 11, 23)


@pytest.mark.parametrize("raw,message", [("2026-02-30", "不存在"), ("next week", "格式不正确"), (-5, "有效")])
def test_bad_dates_say_why(raw, message):
    with pytest.raises(CellError, match=message):
        parse_date(raw)


def test_datetimes_from_serials_and_text():
    assert parse_datetime(46349.5) == datetime(2026, 11, 23, 12, 0)
    assert parse_datetime("2026/11/23 08:05") == datetime(2026, 11, 23, 8, 5)


@pytest.mark.parametrize("raw,expected", [("1,200", 1200), (12.0, 12), (" 7 ", 7), ("００７", 7)])
def test_numbers_stored_as_text(raw, expected):
    assert parse_int(raw) == expected


def test_integer_refuses_fractions_and_words():
    for raw in (1.5, "abc", True):
        with pytest.raises(CellError):
            parse_int(raw)


def test_headers_match_after_trimming_and_full_width_folding():
    column = ImportColumn("bed", "床号", aliases=("床位",))
    assert normalise_header(" 床 号\u3000") in column.headers()
    assert normalise_header("床位") in column.headers()
    assert normalise_header("ＩＤ") == "id"


def test_enumerations_accept_the_label_or_the_value():
    column = ImportColumn("need", "特殊需求", kind="enum", choices={"wheelchair": "轮椅", "fasting": "禁食"})
    assert column.parse("轮椅") == "wheelchair"
    assert column.parse("fasting") == "fasting"
    with pytest.raises(CellError, match="轮椅、禁食"):
        column.parse("担架")


def test_required_and_length_and_types():
    assert ImportColumn("note", "备注").parse("  ") is None
    with pytest.raises(CellError, match="必填"):
        ImportColumn("name", "姓名", required=True).parse(None)
    with pytest.raises(CellError, match="超过 5 个字符"):
        ImportColumn("name", "姓名", max_length=5).parse("一二三四五六")
    assert ImportColumn("fee", "金额", kind="decimal").parse("￥1,234.50") == Decimal("1234.50")
    assert ImportColumn("paid", "已付", kind="bool").parse("是") is True
    assert ImportColumn("id", "编号").parse(1001.0) == "1001"


@pytest.mark.parametrize("raw,shown", [(110105199001011000, "110105199001011000"),
                                       (1.10105199001011e17, "110105199001011000"),
                                       (110105650312601, "110105650312601")])
def test_a_long_number_in_a_text_column_is_refused_never_guessed(raw, shown):
    # An ID number typed into a General-format cell reaches us as a 15-significant-digit number.
    enum = ImportColumn("code", "编码", kind="enum", choices={"a": "甲"})
    for column in (ImportColumn("id_number", "证件号码"), enum):
        with pytest.raises(CellError, match=f"读到的是数字 {shown}.*请把该列设置为文本格式后重新填写"):
            column.parse(raw)
    assert ImportColumn("phone", "电话").parse(13812345678) == "13812345678"  # 11 digits arrive whole
    assert ImportColumn("amount", "金额", kind="decimal").parse(raw) == Decimal(str(raw))  # numbers stay numbers


@pytest.mark.parametrize("raw", [20261123, 20261123.0])
def test_a_yyyymmdd_number_in_a_date_column_is_that_date(raw):
    assert parse_date(raw) == date(2026, 11, 23)
    assert parse_datetime(raw) == datetime(2026, 11, 23)


@pytest.mark.parametrize("raw", [20261340, 20260230])
def test_an_impossible_yyyymmdd_number_is_a_cell_error(raw):
    with pytest.raises(CellError, match=f"日期“{raw}”不存在"):
        parse_date(raw)


@pytest.mark.parametrize("text", ["在职（是/否）", "在职(是/否)", "在职 【是/否】", "在职[是/否]"])
def test_a_hint_in_brackets_is_folded_away(text):
    assert normalise_header(text) in ImportColumn("is_active", "在职", kind="bool").headers()
    assert normalise_header("出生日期(yyyy-mm-dd)") == "出生日期"
    assert normalise_header("（备注）") == "(备注)"  # brackets that are the whole header stay


def test_no_import_type_has_two_columns_that_fold_to_one_header(app):
    from portal.io.imports import TYPES

    assert {"staff", "cm_enrolment"} <= set(TYPES)
    for import_type in TYPES.values():
        seen: dict[str, str] = {}
        for column in import_type.columns:
            for key in column.headers():
                assert seen.setdefault(key, column.name) == column.name, (import_type.code, key)
