"""``quality_surgeon_technology_months``: per surgeon, technology, grade, kind and department, a bit set of the
months (within a five-year block) with at least one such operation. The capability report by surgeon reads it for
whole months (distinct technologies over these rows, not over the operations).

Every surgery write goes through ``outcomes.summary.Change``, which counts the operations it may change before and
after by (month, department, surgeon, technology, grade, kind); ``apply`` gets that difference in the same
transaction: a key whose month gained operations gets the month's bit; a key that lost operations in a month may
still have others then, so its bits are recomputed from the operations (a handful a key, by the surgeon index).
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
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from portal.extensions import db

from ..models import SurgeonTechnologyMonths, Surgery
from ..summary import _chunks, _insert

BLOCK_YEARS = 5
ALL_MONTHS = (1 << 12 * BLOCK_YEARS) - 1
# The key after the block, as named on both the summary and the surgeries.
KEY = ("surgeon_id", "technology_id", "grade", "kind", "department_id")
# The positions of those names in outcomes.summary.FULL (month, department, surgeon, technology, grade, kind).
FULL_POSITIONS = (2, 3, 4, 5, 1)


def block_of(day: date) -> int:
    return day.year - day.year % BLOCK_YEARS


def bit_of(day: date) -> int:
    return 1 << ((day.year - block_of(day)) * 12 + day.month - 1)


def months_between(start: date, end: date):
    """The condition "operated in a month from start to end": one term per five-year block."""
    terms = []
    for block in range(block_of(start), block_of(end) + 1, BLOCK_YEARS):
        mask = 0
        for year in range(max(block, start.year), min(block + BLOCK_YEARS - 1, end.year) + 1):
            for month in range(1, 13):
                if (start.year, start.month) <= (year, month) <= (end.year, end.month):
                    mask |= bit_of(date(year, month, 1))
        terms.append(and_(SurgeonTechnologyMonths.block == block,
                          SurgeonTechnologyMonths.months.op("&")(mask) != 0))
    return or_(*terms)


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
    gone: dict[int, set[tuple]] = defaultdict(set)
    for key, values in deltas.items():
        if not values[0]:
            continue  # as many operations as before in that month: its bit stands
        month = key[0]
        row = (block_of(month), *(key[i] for i in FULL_POSITIONS))
        if values[0] > 0:
            came[row] |= bit_of(month)
        else:
            gone[row[0]].add(row[1:])
    table = SurgeonTechnologyMonths
    columns = [getattr(table, name) for name in KEY]
    for block, keys in gone.items():
        for chunk in _chunks(sorted(keys)):
            db.session.execute(delete(table).where(table.block == block, tuple_(*columns).in_(chunk)))
            found = grouped([_in_block(block), tuple_(*(getattr(Surgery, n) for n in KEY)).in_(chunk)])
            db.session.execute(insert(table).from_select(["block", *KEY, "months"], found))
    _set_bits([{"block": row[0], **dict(zip(KEY, row[1:], strict=True)), "months": bits}
               for row, bits in came.items()])


def _set_bits(rows: list[dict]) -> None:
    """OR the rows' bits into the summary (a new key gets a row)."""
    table = SurgeonTechnologyMonths
    for chunk in _chunks(rows):
        stmt = _insert(table).values(chunk)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["block", *KEY], set_={"months": table.months.op("|")(stmt.excluded.months)}))


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
