"""Masked personal data stays masked: a search that would confirm a hidden value is a reveal.

Screens show 3301**********4822, 139****4321 and 张*丰. What the stars hide must not be learnable
another way, so every search box over identifiers follows one rule, here:

* Searching by a full ID number or phone confirms it as surely as the reveal button does. It is
  therefore a reveal: only for users who hold the domain's reveal permission, and then audited
  (`record_reveal_by_search`, one record per record found). Anyone else is refused with a message
  (`RevealRefused`, 403). A refusal rather than a rate limit: a case manager left with nine
  candidate numbers needs only nine searches, which any useful limit would allow.
* For users who may not reveal, identifier columns are never compared at all (`SearchTerm.hashes`
  is empty), so no query shape the rule misses can confirm a number either.
* Names are searched and sorted by their masked form only: the query is masked the same way
  ("张三丰" is searched as "张*丰"), so no result and no order depends on a hidden character.
* What a search names is masked wherever it is written down: export title lines and audit records
  carry `SearchTerm.shown`, never the full number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import case, func

from . import audit, crypto
from .masking import mask_id_number, mask_name, mask_phone
from .service import ServiceError

ID_NUMBER = "证件号码"
PHONE = "电话"
# Resident ID numbers (18 or 15 digits), passport-like numbers, mobiles and landlines, once spaces,
# dashes and full-width characters are folded away.
_SHAPES = ((ID_NUMBER, re.compile(r"\d{17}[\dX]|\d{15}|[A-Z]{1,2}\d{7,10}")),
           (PHONE, re.compile(r"1[3-9]\d{9}|0\d{9,11}")))
REFUSED = ("按完整{kind}查找等同于查看完整号码，需要“{permission}”权限。"
           "请改用住院号、床号或屏幕上显示的姓名（如“李*明”）查找。")


class RevealRefused(ServiceError):
    """A search by a full identifier from a user who may not see it in full."""

    def __init__(self, kind: str, permission_label: str):
        super().__init__(REFUSED.format(kind=kind, permission=permission_label), field="q", status=403)


def _folded(text: str) -> str:
    return crypto.normalise(text).replace("-", "")


def identifier_kind(text: str) -> str | None:
    """ID_NUMBER or PHONE when the text has the shape of a full identifier, else None."""
    folded = _folded(text)
    for kind, shape in _SHAPES:
        if shape.fullmatch(folded):
            return kind
    return None


@dataclass(frozen=True)
class SearchTerm:
    text: str  # the query as typed (stripped)
    kind: str | None  # ID_NUMBER / PHONE when the query has the shape of a full identifier
    # The keyed hashes identifier columns may be compared with: empty unless the user may reveal.
    hashes: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        """The query as it may be written on an export's title line or in an audit record.

        A query that matched an identifier column without having its usual shape (another kind of
        ID) is masked too: the domain sets `kind` from what it found (`dataclasses.replace`)."""
        return masked_identifier(self.text, self.kind) if self.kind else self.text


def masked_identifier(text: str, kind: str | None) -> str:
    folded = _folded(text)
    return mask_phone(folded) if kind == PHONE else mask_id_number(folded)


def search_term(q: str, *, may_reveal: bool, permission_label: str,
                shown_in_clear: Callable[[str], bool] | None = None) -> SearchTerm:
    """What a search box may match with `q`; raises RevealRefused for a full identifier the user may not see.

    `shown_in_clear(text)` tells whether the text is a value the list shows unmasked anyway (a
    hospital number such as ZY2026003 has the shape of a passport number): such a search goes on, over
    the clear columns only.
    """
    text = (q or "").strip()
    kind = identifier_kind(text) if text else None
    if may_reveal:
        hashes = tuple(dict.fromkeys(h for h in (crypto.lookup_hash(text), crypto.lookup_hash(_folded(text))) if h))
        return SearchTerm(text, kind, hashes)
    if kind is not None and not (shown_in_clear is not None and shown_in_clear(text)):
        raise RevealRefused(kind, permission_label)
    return SearchTerm(text, None)


def record_reveal_by_search(entity_type: str, found: Iterable[tuple[int, str, str]], term: SearchTerm) -> int:
    """One audit record per record a full-identifier search found: (id, masked label, ID_NUMBER or PHONE)."""
    count = 0
    for entity_id, label, kind in found:
        audit.record("reveal", entity_type, entity_id, label=label,
                     changes={"field": kind, "方式": "按完整号码搜索", "查询": masked_identifier(term.text, kind)})
        count += 1
    return count


# --- names: searched and sorted by their masked form -------------------------------------------------------------

def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def masked_name_pattern(q: str) -> str | None:
    """A LIKE pattern (escape "\\") for names whose masked form starts with the masked form of `q`.

    `q` may be typed masked ("张", "张*", "张*丰") or in full ("张三丰" is searched as "张*丰", "张三" as
    "张*"): the characters the mask hides are dropped, never compared. None when no masked name can
    start with `q` (a star first, or text after the last character).
    """
    q = (q or "").strip()
    if not q:
        return None
    masked = q if "*" in q else mask_name(q)
    first, rest = masked[0], masked[1:]
    if first == "*":
        return None
    stars = len(rest) - len(rest.lstrip("*"))
    tail = rest[stars:]
    if not tail:
        return _like_escape(first) + "_" * stars + "%"
    if len(tail) == 1 and stars >= 1:
        return _like_escape(first) + "_" * stars + _like_escape(tail)
    return None


def masked_name_condition(column, q: str):
    """The WHERE condition of `masked_name_pattern`, or None when no name can match."""
    pattern = masked_name_pattern(q)
    return None if pattern is None else column.like(pattern, escape="\\")


def masked_name_order(column) -> tuple:
    """ORDER BY terms that sort names as their masked forms read: first character, length, last character."""
    length = func.length(column)
    last = case((length >= 3, func.substr(column, length, 1)), else_="")
    return func.substr(column, 1, 1), length, last
