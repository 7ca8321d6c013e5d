"""Declared import columns: Chinese headers with aliases, types, enumerations, and cell parsing.

Every parser takes the raw cell value (as openpyxl gives it: str, int, float, datetime, bool, None)
and returns the clean value or raises CellError with a Chinese message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

EXCEL_EPOCH = datetime(1899, 12, 30)  # Excel's day 0 (with its 1900 leap-year quirk folded in)
DATE_PATTERNS = [
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]
# Excel keeps 15 significant digits: a longer number (an ID number typed into a General-format cell) has lost
# its last digits before the file reached us, and a 15-digit one can only be told from it by luck.
LONG_NUMBER_DIGITS = 15
# Kinds whose cells are numbers or dates by nature; every other kind (text, enum, lookups) reads text.
NUMERIC_KINDS = {"int", "decimal", "date", "datetime", "bool"}
# A hint in brackets after a header: 在职（是/否）, 出生日期(yyyy-mm-dd), 金额【元】.
HEADER_HINT = re.compile(r"[(\[{【〔][^()\[\]{}【】〔〕]*[)\]}】〕]")
TRUE_WORDS = {"是", "y", "yes", "true", "1", "√", "有"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "×", "无"}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control characters other than tab and line breaks


class CellError(ValueError):
    """A cell that cannot be read; the message says why, in Chinese."""


def normalise_header(text: Any) -> str:
    """Headers match after trimming spaces (also full-width ones), folding full-width characters and
    dropping a hint in brackets (在职（是/否） is 在职), unless the brackets are all there is."""
    if text is None:
        return ""
    folded = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).strip().lower()
    return HEADER_HINT.sub("", folded) or folded


def similar_header(unknown: str, known: str) -> bool:
    """Two normalised headers that look like a typo or variant of one another (在职状态 / 在职, 证件号吗 / 证件号码)."""
    if not unknown or not known or unknown == known:
        return False
    if len(known) >= 2 and (known in unknown or (len(unknown) >= 2 and unknown in known)):
        return True
    # A slip of the input method keeps the start (证件号吗, 出生日起); a different word changes it early
    # (出生日期 is not 出院日期, 职级 is not 职务).
    shorter, longest = min(len(unknown), len(known)), max(len(unknown), len(known))
    allowed = 0 if longest <= 2 else 1 if longest <= 4 else 2
    prefix = next((i for i, (a, b) in enumerate(zip(unknown, known, strict=False)) if a != b), shorter)
    return (abs(len(unknown) - len(known)) <= allowed and prefix * 2 >= shorter
            and _distance(unknown, known) <= allowed)


def _distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _digits(value: float | int) -> str:
    """The integer part of a number as Excel holds it (at most 17 significant digits, never float noise)."""
    if isinstance(value, float):
        return str(abs(int(Decimal(repr(value))))) if value == value and abs(value) != float("inf") else ""
    return str(abs(value))


def refuse_long_number(value: Any) -> None:
    """A number of 15 or more digits in a text column lost digits in Excel: refuse it, never guess."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        digits = _digits(value)
        if len(digits) >= LONG_NUMBER_DIGITS:
            shown = ("-" if value < 0 else "") + digits
            raise CellError(f"读到的是数字 {shown}，超过 15 位的数字在 Excel 中会丢失末尾几位："
                            "请把该列设置为文本格式后重新填写")


def _text(value: Any) -> str:
    if type(value) is str:  # the common case first: ASCII needs no folding
        return (value if value.isascii() else unicodedata.normalize("NFKC", value)).strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed into a text column: 1001.0 is "1001"
    return unicodedata.normalize("NFKC", str(value)).strip()


def parse_text(value: Any, max_length: int = 200) -> str:
    if type(value) is not str:
        refuse_long_number(value)
    text = _text(value)
    if CONTROL.search(text):
        raise CellError("包含不可见的控制字符")
    if len(text) > max_length:
        raise CellError(f"超过 {max_length} 个字符")
    return text


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise CellError("应为整数")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise CellError("应为整数")
    text = _text(value).replace(",", "")
    if not re.fullmatch(r"[+-]?\d+", text):
        raise CellError("应为整数")
    return int(text)


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise CellError("应为数字")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    text = _text(value).replace(",", "").replace("¥", "").replace("￥", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellError("应为数字") from None
    if not number.is_finite():
        raise CellError("应为数字")
    return number


def parse_date(value: Any) -> date:
    """Real dates, Excel serial numbers, and text such as 2026-11-23, 2026/11/23, 2026年11月23日, 20261123."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 <= value < 2958466:  # up to 9999-12-31
            return (EXCEL_EPOCH + timedelta(days=int(value))).date()
        if _yyyymmdd(value):
            return _yyyymmdd_date(value)
        raise CellError("不是有效的日期")
    text = _text(value)
    for pattern in DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                raise CellError(f"日期“{text}”不存在") from None
    raise CellError(f"日期“{text[:20]}”格式不正确，应为 2026-11-23 等格式")


def _yyyymmdd(value: float | int) -> bool:
    """20261123 typed into a General-format date column arrives as a number, far beyond any date serial."""
    return float(value).is_integer() and 10000101 <= value <= 99991231


def _yyyymmdd_date(value: float | int) -> date:
    number = int(value)
    try:
        return date(number // 10000, number // 100 % 100, number % 100)
    except ValueError:
        raise CellError(f"日期“{number}”不存在") from None


def parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _yyyymmdd(value):
            return datetime.combine(_yyyymmdd_date(value), datetime.min.time())
        if 1 <= value < 2958466:
            return EXCEL_EPOCH + timedelta(days=float(value))
        raise CellError("不是有效的时间")
    text = _text(value)
    match = re.fullmatch(r"(.+?)[ T](\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if not match:
        return datetime.combine(parse_date(text), datetime.min.time())
    day = parse_date(match.group(1))
    try:
        return datetime(day.year, day.month, day.day, int(match.group(2)), int(match.group(3)),
                        int(match.group(4) or 0))
    except ValueError:
        raise CellError(f"时间“{text[:20]}”不正确") from None


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise CellError("应填“是”或“否”")


@dataclass
class ImportColumn:
    """One declared column of an import type."""

    name: str
    header: str
    kind: str = "text"  # text, int, decimal, date, datetime, bool, enum, or a registered lookup
    required: bool = False
    aliases: tuple[str, ...] = ()
    max_length: int = 200
    choices: dict[str, str] = field(default_factory=dict)  # stored value -> Chinese label
    help: str = ""

    def headers(self) -> set[str]:
        return {normalise_header(h) for h in (self.header, *self.aliases)}

    def parse(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            if self.required:
                raise CellError("必填项为空")
            return None
        if self.kind == "text":
            return parse_text(value, self.max_length)
        if self.kind not in NUMERIC_KINDS and type(value) is not str:
            refuse_long_number(value)  # lookups (ID numbers, employee numbers, codes) read text too
        if self.kind == "enum":
            text = _text(value)
            for stored, label in self.choices.items():
                if text in (stored, label):
                    return stored
            raise CellError(f"应为以下之一：{'、'.join(self.choices.values())}")
        parser = PARSERS.get(self.kind) or LOOKUPS.get(self.kind)
        if parser is None:
            raise LookupError(f"unknown column kind {self.kind}")
        return parser(value)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": parse_text, "int": parse_int, "decimal": parse_decimal, "date": parse_date,
    "datetime": parse_datetime, "bool": parse_bool,
}
# Domains register lookups (staff by employee number, department by name or code, technology by code...).
LOOKUPS: dict[str, Callable[[Any], Any]] = {}


def register_lookup(kind: str, parser: Callable[[Any], Any]) -> None:
    LOOKUPS[kind] = parser
