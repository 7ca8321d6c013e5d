"""The reveal rule's pure parts: which queries name a full identifier, and the masked-name pattern."""

from __future__ import annotations

import pytest

from portal.core.reveal import (
    ID_NUMBER,
    PHONE,
    RevealRefused,
    identifier_kind,
    masked_name_pattern,
    search_term,
)


@pytest.mark.parametrize("text,kind", [
    ("110105196503125017", ID_NUMBER), ("11010519650312501x", ID_NUMBER),
    ("１１０１０５１９６５０３１２５０１７", ID_NUMBER),
    ("110105650312501", ID_NUMBER), ("E12345678", ID_NUMBER), ("13987654321", PHONE), ("139-8765-4321", PHONE),
    ("010-12345678", PHONE), ("0571 8888 6666", PHONE),
    ("Z1001", None), ("1101", None), ("4822", None), ("张三丰", None), ("1398765432", None), ("", None),
])
def test_identifier_kind(text, kind):
    assert identifier_kind(text) == kind


@pytest.mark.parametrize("q,pattern", [
    ("张", "张%"), ("张*", "张_%"), ("张*丰", "张_丰"), ("欧**", "欧__%"), ("欧**月", "欧__月"),
    ("张三", "张_%"), ("张三丰", "张_丰"), ("欧阳娜娜", "欧__娜"),  # typed in full: masked first
    ("*丰", None), ("张*三丰", None), ("", None), ("5%", "5_%"),
])
def test_masked_name_pattern_never_compares_a_hidden_character(q, pattern):
    assert masked_name_pattern(q) == pattern


def test_masked_name_pattern_escapes_like_wildcards():
    assert masked_name_pattern("%") == "\\%%"
    assert masked_name_pattern("_*") == "\\__%"


def test_a_full_identifier_is_refused_without_the_reveal_permission():
    with pytest.raises(RevealRefused) as refused:
        search_term("110105196503125017", may_reveal=False, permission_label="查看完整证件号与电话")
    assert refused.value.status == 403 and "查看完整证件号与电话" in refused.value.message
    with pytest.raises(RevealRefused):
        search_term("139 8765 4321", may_reveal=False, permission_label="x")
    # A value the list shows as typed (a hospital number shaped like a passport number) goes on, over clear columns.
    term = search_term("ZY2026003", may_reveal=False, permission_label="x", shown_in_clear=lambda t: True)
    assert term.hashes == () and term.kind is None
    assert search_term("张三", may_reveal=False, permission_label="x").hashes == ()
