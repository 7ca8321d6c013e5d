"""Reading JSON request bodies: one place for every view (the API and any page that takes JSON).

A body nested thousands deep makes the parser recurse until Python gives up (a 500); it is refused
before parsing with a 400 in Chinese, and so is a body that is not JSON at all.
"""

from __future__ import annotations

import re

from htmx_flask.requests import HtmxAwareRequest
from werkzeug.exceptions import BadRequest

MAX_DEPTH = 32
# Strings may hold brackets; they do not nest anything.
_STRINGS = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.S)  # possessive: no backtracking
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than `limit` (brackets inside strings do not count).

    Each pass removes the innermost pairs, at C speed: a 20 MB body of brackets costs a few passes over
    bytes, never a Python loop per character. Unbalanced brackets are left to the parser to refuse."""
    brackets = _STRINGS.sub(b"", data).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not removed:
            return False
    return _INNERMOST.search(brackets) is not None


class PortalRequest(HtmxAwareRequest):
    """The application's request class (htmx-flask's, which knows request.htmx, plus the JSON rules)."""

    max_json_depth = MAX_DEPTH

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        # Refused even when the caller reads silently: this is not a body to guess about.
        if (force or self.is_json) and too_deep(self.get_data(cache=True), self.max_json_depth):
            raise BadRequest(f"JSON 嵌套层数过深（最多 {self.max_json_depth} 层），请检查请求体。")
        return super().get_json(force=force, silent=silent, cache=cache)

    def on_json_loading_failed(self, e: ValueError | None):
        if e is None:
            raise BadRequest("请求体应为 JSON（Content-Type: application/json）。")
        raise BadRequest("请求体不是有效的 JSON，请检查格式（引号、逗号、括号是否成对）。")
