"""The common-password check, context words, and the JSON depth scan."""

from __future__ import annotations

import pytest

from portal.auth.passwords import is_common, policy_errors
from portal.core.jsonbody import MAX_DEPTH, too_deep


@pytest.mark.parametrize("password", ["Password1", "P@ssw0rd!", "Admin@123", "Aa123456", "Qwer1234!", "1qaz@WSX",
                                      "Woaini1314!", "Welcome2026!", "Huawei@123", "Zhang@1990"])
def test_common_passwords_and_their_decorated_forms_are_refused(password):
    assert is_common(password)
    assert any("常见密码" in e for e in policy_errors(password, "doc"))


@pytest.mark.parametrize("password", ["Portal#2026ok", "Ward7#Morning", "Better#Pass9", "Lantern&Ginkgo42"])
def test_uncommon_passwords_pass(password):
    assert policy_errors(password, "doc") == []


def test_context_words_are_named_in_the_reason():
    context = {"姓名": "李娜", "工号": "E1024", "医院名称": "示范医院"}
    assert policy_errors("LiNa#李娜2026", "doc", context) == ["密码不能包含姓名"]
    assert policy_errors("Work#e1024x", "doc", context) == ["密码不能包含工号"]
    assert policy_errors("示范医院#Ok2026", "doc", context) == ["密码不能包含医院名称"]


def test_depth_scan():
    assert not too_deep(b'{"items": [{"id": "A1"}]}')
    assert too_deep(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert not too_deep(b'["' + b"[" * 100 + b'"]')  # brackets in a string
    assert not too_deep(b'["a\\"' + b"[" * 100 + b'"]')  # ...after an escaped quote
    assert not too_deep(b"[" * 100)  # unbalanced: the parser refuses it as invalid JSON
