"""The ledger's monthly summary (ledger_months): kept current by the writes, rebuilt on demand.

`count_entry` is called by every service that adds a ledger row, in the same transaction: one upsert
(`INSERT … ON CONFLICT DO UPDATE SET services = services + 1 …`) so concurrent completions for the same month
and case manager both count. `rebuild` recomputes the summary from the ledger (all of it, or one month).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, case, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.extensions import db

from ..models import LedgerEntry, LedgerMonth

KEY = ("month", "case_manager_id", "task_type", "icd10_code", "disease_name", "source", "patient_id")
OUTCOME_COUNTS = ("reached", "not_reached", "declined")


def month_of(day: date) -> date:
    return day.replace(day=1)


def count_entry(entry: LedgerEntry, sign: int = 1) -> None:
    """Add (sign 1) or take away (sign -1) one ledger row's counts in its month's summary row."""
    values = {"month": month_of(entry.service_date), "case_manager_id": entry.case_manager_id or 0,
              "task_type": entry.task_type, "icd10_code": entry.icd10_code or "",
              "disease_name": entry.disease_name or "", "source": "task" if entry.task_id else "adhoc",
              "patient_id": entry.patient_id, "services": sign}
    for code in OUTCOME_COUNTS:
        values[code] = sign if entry.outcome == code else 0
    dialect = db.session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(LedgerMonth).values(**values)
    table = LedgerMonth.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=list(KEY),
        set_={name: table.c[name] + stmt.excluded[name] for name in ("services", *OUTCOME_COUNTS)})
    db.session.execute(stmt)
    if sign < 0:  # a row whose counts reached zero says nothing: drop it so distinct patients stay exact
        db.session.execute(delete(LedgerMonth).where(
            *(table.c[k] == values[k] for k in KEY), LedgerMonth.services <= 0))


def _month_expr(dialect: str):
    if dialect == "postgresql":
        return func.date_trunc("month", LedgerEntry.service_date).cast(Date)
    return func.date(LedgerEntry.service_date, "start of month")


def rebuild(month: date | None = None) -> int:
    """Recompute the summary from the ledger (one month, or everything). Returns the summary rows written."""
    dialect = db.session.get_bind().dialect.name
    month_col = _month_expr(dialect)
    source = case((LedgerEntry.task_id.is_(None), literal("adhoc")), else_=literal("task"))
    manager = func.coalesce(LedgerEntry.case_manager_id, 0)
    icd = func.coalesce(LedgerEntry.icd10_code, "")
    disease = func.coalesce(LedgerEntry.disease_name, "")
    rows = select(month_col.label("month"), manager, LedgerEntry.task_type, icd, disease, source,
                  LedgerEntry.patient_id, func.count(),
                  *(func.sum(case((LedgerEntry.outcome == code, 1), else_=0)) for code in OUTCOME_COUNTS))
    rows = rows.group_by(month_col, manager, LedgerEntry.task_type, icd, disease, source, LedgerEntry.patient_id)
    clear = delete(LedgerMonth)
    if month is not None:
        first = month_of(month)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        rows = rows.where(LedgerEntry.service_date >= first, LedgerEntry.service_date < after)
        clear = clear.where(LedgerMonth.month == first)
    db.session.execute(clear)
    db.session.execute(insert(LedgerMonth).from_select([*KEY, "services", *OUTCOME_COUNTS], rows))
    query = select(func.count()).select_from(LedgerMonth)
    if month is not None:
        query = query.where(LedgerMonth.month == month_of(month))
    return db.session.scalar(query)
