"""Query-string parsing, sorting and pagination shared by every list page.

Bad query strings are answered with 400 and a Chinese message, never a 500.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from flask import current_app, request
from sqlalchemy import Select, Subquery, func, select
from werkzeug.exceptions import BadRequest

from portal.extensions import db

T = TypeVar("T")
MAX_TEXT_ARG = 100
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)


def bad_request(message: str) -> BadRequest:
    exc = BadRequest(message)
    return exc


def arg_month(name: str = "month") -> date | None:
    """A month ("2026-11") from the query string as its first day; empty as None; anything else a 400."""
    from .months import parse_month
    from .service import ServiceError

    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_month(raw, name)
    except ServiceError as error:
        raise bad_request(error.message) from None


def past_month(raw: str | None, what: str = "查看") -> date:
    """A month from the query string or the path (empty: this month); bad or future months are a 400."""
    from .months import check_not_future, current_month, parse_month
    from .service import ServiceError

    try:
        return check_not_future(parse_month(raw) if raw else current_month(), what=what)
    except ServiceError as error:
        raise bad_request(error.message) from None


def arg_str(name: str, max_length: int = MAX_TEXT_ARG) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        raise bad_request(f"查询条件“{name}”过长（最多 {max_length} 个字符）")
    return value


def arg_int(name: str, default: int | None = None, minimum: int = 1, maximum: int = 10**9) -> int | None:
    raw = request.args.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"参数“{name}”应为整数") from None
    if not minimum <= value <= maximum:
        raise bad_request(f"参数“{name}”超出范围（{minimum}–{maximum}）")
    return value


def arg_choice(name: str, choices: Sequence[str] | dict, default: str = "") -> str:
    value = request.args.get(name, "").strip()
    if value == "":
        return default
    if value not in choices:
        raise bad_request(f"参数“{name}”的取值无效")
    return value


def arg_date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"日期“{raw[:20]}”格式不正确，应为 2026-11-23") from None
    if not MIN_DATE <= value <= MAX_DATE:
        raise bad_request(f"日期应在 {MIN_DATE:%Y-%m-%d} 至 {MAX_DATE:%Y-%m-%d} 之间")
    return value


@dataclass
class Sort:
    key: str
    descending: bool

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.key


def parse_sort(allowed: dict[str, Any], default: str) -> Sort:
    raw = request.args.get("sort", "").strip() or default
    key = raw.lstrip("-")
    if key not in allowed:
        raise bad_request("排序字段无效")
    return Sort(key, raw.startswith("-"))


def apply_sort(stmt: Select, sort: Sort, allowed: dict[str, Any], tiebreak) -> Select:
    column = allowed[sort.key]
    order = column.desc() if sort.descending else column.asc()
    tie = tiebreak.desc() if sort.descending else tiebreak.asc()
    return stmt.order_by(order, tie)


@dataclass
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int
    args: dict[str, str] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.total, self.page * self.per_page)

    def window(self, size: int = 2) -> list[int | None]:
        """Page numbers to show, with None for a gap: 1 … 4 5 [6] 7 8 … 20."""
        shown = {1, self.pages} | set(range(max(1, self.page - size), min(self.pages, self.page + size) + 1))
        out: list[int | None] = []
        last = 0
        for number in sorted(shown):
            if number - last > 1:
                out.append(None)
            out.append(number)
            last = number
        return out


_counts: OrderedDict[tuple, tuple[float, int]] = OrderedDict()
_counts_lock = threading.Lock()
_COUNT_CACHE_SIZE = 512


def _count_key(stmt: Select) -> tuple:
    """What identifies a list's total: the database, the statement's structure and its parameter values.

    SQLAlchemy's own cache key (the structure, without compiling it again: compiling the statement to a
    string on every page cost a few milliseconds) plus the values of its bound parameters.
    """
    url = str(db.session.get_bind().engine.url)
    cache_key = stmt._generate_cache_key()
    if cache_key is None:  # a construct that cannot be cached: compile it as before
        compiled = stmt.compile(db.session.get_bind())
        return (url, str(compiled), repr(sorted(compiled.params.items())))
    return (url, cache_key.key, repr([param.effective_value for param in cache_key.bindparams]))


def count_rows(stmt: Select) -> int:
    """The number of rows of a list: exact while small; above LIST_EXACT_COUNT_LIMIT, a count cached per worker.

    The first query counts at most limit + 1 rows (cheap whatever the table's size). Only a longer list pays a
    full count(*), once per LIST_COUNT_CACHE_SECONDS for the same filters, so paging through millions of
    rows (the audit log) does not count them on every page; while its total is cached, no count runs at all.
    """
    base = stmt.order_by(None)
    # A list already known to be long reads its cached total without even the bounded count (which reads
    # limit + 1 rows: tens of milliseconds on every page of a long ledger). Only long lists are ever cached.
    key = _count_key(base)
    total = _cached_total(key)
    if total is not None:
        return total
    small = db.session.execute(select(func.count()).select_from(_bounded(base))).scalar_one()
    if small <= current_app.config["LIST_EXACT_COUNT_LIMIT"]:
        return small
    return _count_long(key, base)


def _bounded(base: Select):
    """At most LIST_EXACT_COUNT_LIMIT + 1 of the list's rows, to count: cheap whatever the table's size."""
    return base.limit(current_app.config["LIST_EXACT_COUNT_LIMIT"] + 1).subquery()


def _count_long(key: tuple, base: Select) -> int:
    """The full count of a list found long, kept for LIST_COUNT_CACHE_SECONDS."""
    total = db.session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    _remember_total(key, total)
    return total


def _remember_total(key: tuple, total: int) -> None:
    with _counts_lock:
        _counts[key] = (time.monotonic() + current_app.config["LIST_COUNT_CACHE_SECONDS"], total)
        while len(_counts) > _COUNT_CACHE_SIZE:
            _counts.popitem(last=False)


def paginate(stmt: Select, page: int, per_page: int, scalars: bool = True, total_in_page: bool = False,
             count_stmt: Select | None = None, rows: Callable[[Subquery], Select] | None = None) -> Page:
    """One count and one page query; a page number past the end shows the last page.

    count_stmt: the same rows as `stmt` without what only the page needs (joins for names shown, per-row
    subqueries), so the count does not pay for them on every row.

    total_in_page: the page query also carries the total (count(*) OVER ()), so a list whose filter is costly
    (a case manager's patients: the visibility query) evaluates it once instead of once for the count and once
    for the page. Only for statements without DISTINCT or joined collections (one row per item). A list known
    to be long still reads its cached total; one found long is cached like count_rows does.

    rows: `stmt` selects only the keys (filtered and ordered); rows(page) is the statement reading the shown
    columns of the page's keys (a subquery, limited to the page), in the same order. The joins for names shown
    then run for one page's rows, not for every row the count or the offset passes.
    """
    if total_in_page:
        return _paginate_counting_in_page(stmt, page, per_page, scalars, rows)
    base = (stmt if count_stmt is None else count_stmt).order_by(None)
    key = _count_key(base)
    total = _cached_total(key)
    if total is None:
        # The bounded count rides beside the page's rows (an uncorrelated scalar subquery, evaluated once):
        # one round trip instead of two. A page past the end, or a long list, then counts as before.
        page = max(page, 1)
        bounded = select(func.count()).select_from(_bounded(base)).scalar_subquery().label("_list_total")
        result = db.session.execute(_page_query(stmt, per_page, (page - 1) * per_page, rows, bounded))
        if scalars:  # unique(): entities with joined collections
            found = result.unique().all()
            items = list(dict.fromkeys(row[0] for row in found))
        else:  # the same mappings as a page query without the total
            frozen = result.freeze()
            found = frozen().all()
            items = list(frozen().columns(*range(len(result.keys()) - 1)).mappings())
        if found or page == 1:
            total = found[0][-1] if found else 0
            if total > current_app.config["LIST_EXACT_COUNT_LIMIT"]:
                total = _count_long(key, base)
            return Page(items, page, per_page, total)
        total = count_rows(base)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), pages)
    result = db.session.execute(_page_query(stmt, per_page, (page - 1) * per_page, rows))
    items = list(result.scalars().unique()) if scalars else list(result.mappings())
    return Page(items, page, per_page, total)


def _page_query(stmt: Select, limit: int, offset: int, rows: Callable[[Subquery], Select] | None, total=None) -> Select:
    """The page of `stmt` (with the total column, if any, last); through rows() when the list pages its keys."""
    page = (stmt if total is None else stmt.add_columns(total.label("_list_total"))).limit(limit).offset(offset)
    if rows is None:
        return page
    keys = page.subquery("page_keys")
    outer = rows(keys)
    return outer if total is None else outer.add_columns(keys.c._list_total)


def _items(rows: list, scalars: bool) -> list:
    """Page items without the total that rode along: entities (scalars) or name -> value mappings."""
    if scalars:
        return list(dict.fromkeys(row[0] for row in rows))
    return [{k: v for k, v in row._mapping.items() if k != "_list_total"} for row in rows]


def first_page(stmt: Select, per_page: int, count_stmt: Select | None = None) -> Page:
    """The first rows of a list (plain rows) and its total in one statement: the count is an uncorrelated scalar
    subquery, evaluated once, beside each row. For a home panel's figure and short list, which otherwise pay a
    second round trip for the count. count_stmt as for paginate (the same rows without the page's joins); no rows
    means a total of 0. Not for a list whose exact count is costly (paginate caches those)."""
    counted = (count_stmt if count_stmt is not None else stmt).order_by(None).subquery()
    total = select(func.count()).select_from(counted).scalar_subquery().label("_list_total")
    rows = db.session.execute(stmt.add_columns(total).limit(per_page)).all()
    return Page(rows, 1, per_page, rows[0][-1] if rows else 0)  # rows keep their names (and _list_total)


def _cached_total(key: tuple) -> int | None:
    with _counts_lock:
        hit = _counts.get(key)
        if hit and hit[0] > time.monotonic():
            _counts.move_to_end(key)
            return hit[1]
    return None


def _paginate_counting_in_page(stmt: Select, page: int, per_page: int, scalars: bool,
                               rows_of: Callable[[Subquery], Select] | None) -> Page:
    key = _count_key(stmt.order_by(None))
    if _cached_total(key) is not None:
        return paginate(stmt, page, per_page, scalars, rows=rows_of)
    page = max(page, 1)
    counted = _page_query(stmt, per_page, (page - 1) * per_page, rows_of, func.count().over())
    rows = db.session.execute(counted).all()
    if not rows:
        if page == 1:
            return Page([], 1, per_page, 0)
        return paginate(stmt, page, per_page, scalars, rows=rows_of)  # past the end: count, show the last page
    total = rows[0][-1]
    if total > current_app.config["LIST_EXACT_COUNT_LIMIT"]:
        _remember_total(key, total)
    return Page(_items(rows, scalars), page, per_page, total)


def query_string(args: dict[str, Any], **changes: Any) -> str:
    """The current filters with some changed; empty values are dropped so URLs stay short."""
    merged = {**args, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "", False)})
