"""Money as Decimal, parsed exactly from what people type and what Excel stores.

Accepted: "12345.6", "12,345.60", "¥12,345.60", "￥ 12345", "12345.60元", an integer cell, a numeric cell.
A numeric Excel cell arrives as a binary float: it is converted through ``str()`` (the shortest text that reads
back as the same float, so 12345.6 stays "12345.6"); a result with more than two decimals is refused, except
the artefact of a formula such as =0.1+0.2 (0.30000000000000004), which lies within 1e-9 of a two-decimal
amount and is taken as that amount. Typed text with more than two decimals is always refused.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
_TEXT = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


class MoneyError(ValueError):
    pass


def _checked(number: Decimal) -> Decimal:
    if not number.is_finite():
        raise MoneyError("应为金额数字")
    if number.as_tuple().exponent < -2 and number != number.quantize(CENT):
        raise MoneyError("金额最多两位小数")
    number = number.quantize(CENT)
    if abs(number) > MAX_AMOUNT:
        raise MoneyError("金额过大")
    return number


def parse_money(value) -> Decimal:
    """An exact amount with two decimals, or MoneyError with a Chinese reason."""
    if value is None or isinstance(value, bool):
        raise MoneyError("应为金额数字")
    if isinstance(value, Decimal):
        return _checked(value)
    if isinstance(value, int):
        return _checked(Decimal(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise MoneyError("应为金额数字")
        number = Decimal(str(value))
        if number.as_tuple().exponent < -2:
            nearest = number.quantize(CENT)
            if abs(number - nearest) < Decimal("1e-9"):
                number = nearest
        return _checked(number)
    text = str(value).strip().replace(" ", "").replace("\u00a0", "")
    text = text.lstrip("¥￥").removesuffix("元")
    if text.startswith(("-¥", "-￥")):
        text = "-" + text[2:]
    if not _TEXT.match(text):
        raise MoneyError("应为金额数字（如 12,345.60）")
    try:
        return _checked(Decimal(text.replace(",", "")))
    except InvalidOperation:
        raise MoneyError("应为金额数字") from None


def positive_money(value) -> Decimal:
    amount = parse_money(value)
    if amount <= 0:
        raise MoneyError("金额必须大于 0")
    return amount


def rate(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole as a fraction with four decimals (None when there is no budget)."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))
