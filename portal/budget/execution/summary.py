"""`budget_spending_months`, kept current by the writes and rebuilt on demand.

Every write of an expenditure calls one of these in the same transaction: `count_new` for inserted rows (one by
one or an import's bulk insert), `count_status` when a row changes state (approval outcome). Each is an upsert
that adds to the sums (`INSERT … ON CONFLICT DO UPDATE SET spent = spent + excluded.spent`), so two writes at
once both count. Invariant: the table equals `rebuild_sql`'s grouping of `budget_expenditures`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.core.months import next_month
from portal.core.workercache import generation_row
from portal.extensions import db

from ..models import SpendingMonth

KEY = ("project_id", "line_id", "month")
SUMS = ("expenditures", "committed", "spent")


def _insert():
    return (pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(SpendingMonth)


def _amounts(status: str, amount) -> tuple[Decimal, Decimal]:
    """(committed, spent) that one expenditure in this state adds."""
    amount = Decimal(amount)
    return (amount if status == "committed" else Decimal(0), amount if status == "spent" else Decimal(0))


def _add(deltas: dict[tuple[int, int, date], list]) -> None:
    rows = [dict(zip(KEY + SUMS, (*key, *values), strict=True)) for key, values in deltas.items()]
    table = SpendingMonth.__table__
    for start in range(0, len(rows), 1000):
        stmt = _insert().values(rows[start:start + 1000])
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=list(KEY), set_={name: table.c[name] + stmt.excluded[name] for name in SUMS}))


def count_new(rows: Iterable[tuple[int, int, date, str, Decimal]]) -> None:
    """Count inserted expenditures, given as (project_id, line_id, spent_on, status, amount)."""
    deltas: dict[tuple[int, int, date], list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for project_id, line_id, spent_on, status, amount in rows:
        sums = deltas[(project_id, line_id, spent_on.replace(day=1))]
        committed, spent = _amounts(status, amount)
        sums[0] += 1
        sums[1] += committed
        sums[2] += spent
    if deltas:
        _add(deltas)


def count_status(project_id: int, line_id: int, spent_on: date, amount, before: str, after: str) -> None:
    """Move one expenditure's amount from its old state's sum to its new state's."""
    old, new = _amounts(before, amount), _amounts(after, amount)
    _add({(project_id, line_id, spent_on.replace(day=1)): [0, new[0] - old[0], new[1] - old[1]]})


def rebuild_sql(dialect: str, month: date | None = None) -> str:
    """The statement that recomputes the summary from the expenditures (shared with the migration's back-fill)."""
    first = ("date_trunc('month', spent_on)::date" if dialect == "postgresql"
             else "date(spent_on, 'start of month')")
    where = ""
    if month is not None:
        where = f"WHERE spent_on >= '{month:%Y-%m-%d}' AND spent_on < '{next_month(month):%Y-%m-%d}'"
    return f"""
        INSERT INTO budget_spending_months (project_id, line_id, month, expenditures, committed, spent)
        SELECT project_id, line_id, {first}, count(*),
               coalesce(sum(CASE WHEN status = 'committed' THEN amount ELSE 0 END), 0),
               coalesce(sum(CASE WHEN status = 'spent' THEN amount ELSE 0 END), 0)
        FROM budget_expenditures {where}
        GROUP BY 1, 2, 3"""


def rebuild(month: date | None = None) -> int:
    """Recompute the summary from the expenditures (one month, or everything). Returns the rows written."""
    dialect = db.session.get_bind().dialect.name
    first = month.replace(day=1) if month is not None else None
    where = [SpendingMonth.month == first] if first is not None else []
    db.session.execute(delete(SpendingMonth).where(*where))
    db.session.execute(text(rebuild_sql(dialect, first)))
    return db.session.scalar(select(func.count()).select_from(SpendingMonth).where(*where))




def generation() -> int:
    """The budget generation (moved by every write to projects, lines, expenditures and this table, in the writing
    transaction): a kept spending report is valid while it is unchanged. Read once a GET request."""
    return generation_row("budget", "budget_generation")
