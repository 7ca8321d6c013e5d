"""``quality_surgeon_technology_months``: per surgeon, technology, grade, kind and department, a bit set of the
months (within a five-year block) with at least one such operation. The capability report by surgeon reads it for
whole months (distinct technologies over these rows, not over the operations).

Every surgery write goes through ``outcomes.summary.Change``, which counts the operations it may change before and
after by (month, department, surgeon, technology, grade, kind); ``apply`` gets that difference in the same
transaction (under the quality write lock): a key whose month gained operations gets the month's bit; a key that
lost operations in a month loses the bit unless other operations of it remain in that month.
Invariant: each row's bits are exactly the months of its key's operations, and a key without any has no row.
``rebuild`` recomputes it (``cli.py rebuild-summaries``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    bindparam,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    select,
    update,
)

from portal.core import months
from portal.core.months import BLOCK_YEARS, bit_of, block_of
from portal.extensions import db

from ..models import SurgeonTechnologyMonths, Surgery
from ..summary import _chunks, _insert

ALL_MONTHS = (1 << 12 * BLOCK_YEARS) - 1
# The key after the block, as named on both the summary and the surgeries.
KEY = ("surgeon_id", "technology_id", "grade", "kind", "department_id")
# The positions of those names in outcomes.summary.FULL (month, department, surgeon, technology, grade, kind).
FULL_POSITIONS = (2, 3, 4, 5, 1)


def months_between(start: date, end: date):
    return months.months_between(SurgeonTechnologyMonths, start, end)


def grouped(where: Sequence = ()):
    """The operations matching `where` as summary rows: block, key, and the OR of their months' bits (a sum of
    the distinct bits, which both back ends have)."""
    year = cast(extract("year", Surgery.operation_date), Integer)
    month = cast(extract("month", Surgery.operation_date), Integer)
    block = (year - year % BLOCK_YEARS).label("block")
    bit = literal(1, BigInteger).op("<<")((year - block) * 12 + month - 1)
    keys = [getattr(Surgery, name) for name in KEY]
    return (select(block, *keys, cast(func.sum(bit.distinct()), BigInteger).label("months"))
            .where(*where).group_by(block, *keys))


def _in_block(block: int):
    return Surgery.operation_date.between(date(block, 1, 1), date(block + BLOCK_YEARS - 1, 12, 31))


def apply(deltas: Mapping[tuple, Sequence[int]]) -> None:
    """Follow a surgery write: `deltas` are the changes of the operations' counts (first value: operations) by
    outcomes.summary.FULL."""
    came: dict[tuple, int] = defaultdict(int)
    gone: dict[date, set[tuple]] = defaultdict(set)
    for key, values in deltas.items():
        if not values[0]:
            continue  # as many operations as before in that month: its bit stands
        month, row = key[0], tuple(key[i] for i in FULL_POSITIONS)
        if values[0] > 0:
            came[(block_of(month), *row)] |= bit_of(month)
        else:
            gone[month].add(row)
    # A key that lost operations in a month keeps its bit if others remain then: one query a month touched, by
    # the surgeon index (a handful of operations per surgeon and month).
    clear: dict[tuple, int] = defaultdict(int)
    for month, keys in gone.items():
        after = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        left: set[tuple] = set()
        for chunk in _chunks(sorted({k[0] for k in keys})):
            left.update(tuple(r) for r in db.session.execute(
                select(*(getattr(Surgery, name) for name in KEY)).distinct()
                .where(Surgery.surgeon_id.in_(chunk), Surgery.operation_date >= month,
                       Surgery.operation_date < after)))
        for key in keys - left:
            clear[(block_of(month), *key)] |= bit_of(month)
    if clear:
        # By primary key, many parameter sets in one call; a row left without months goes.
        table = SurgeonTechnologyMonths.__table__
        by_key = and_(table.c.block == bindparam("k_block"),
                      *(table.c[name] == bindparam(f"k_{name}") for name in KEY))
        keys = [{"k_block": key[0], **{f"k_{name}": v for name, v in zip(KEY, key[1:], strict=True)}}
                for key in clear]
        db.session.execute(update(table).where(by_key).values(months=table.c.months.op("&")(bindparam("keep"))),
                           [{**k, "keep": ALL_MONTHS ^ bits} for k, bits in zip(keys, clear.values(), strict=True)])
        db.session.execute(delete(table).where(by_key, table.c.months == 0), keys)
    _set_bits([{"block": row[0], **dict(zip(KEY, row[1:], strict=True)), "months": bits}
               for row, bits in came.items()])


def _set_bits(rows: list[dict]) -> None:
    """OR the rows' bits into the summary (a new key gets a row)."""
    if not rows:
        return
    table = SurgeonTechnologyMonths.__table__
    stmt = _insert(table)
    # One statement with many parameter sets (compiled once), not thousands of rows spelled into its text.
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=["block", *KEY], set_={"months": table.c.months.op("|")(stmt.excluded.months)}), rows)


def rebuild(month: date | None = None) -> int:
    """Recompute from the operations (one month, or all). Returns the rows written."""
    table = SurgeonTechnologyMonths
    if month is None:
        db.session.execute(delete(table))
        return db.session.execute(insert(table).from_select(["block", *KEY, "months"], grouped())).rowcount
    first = month.replace(day=1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    block, bit = block_of(first), bit_of(first)
    # The month's bit is cleared everywhere, then set again from the month's operations.
    db.session.execute(update(table).where(table.block == block).values(months=table.months.op("&")(ALL_MONTHS ^ bit)))
    found = db.session.execute(grouped([Surgery.operation_date >= first, Surgery.operation_date < after])).all()
    _set_bits([dict(r._mapping) for r in found])
    db.session.execute(delete(table).where(table.block == block, table.months == 0))
    return len(found)
