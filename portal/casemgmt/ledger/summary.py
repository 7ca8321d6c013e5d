"""The ledger's summaries, kept current by the writes and rebuilt on demand.

`ledger_months` holds the counts (services and outcomes) per month, case manager, type, disease and source;
`ledger_patient_months` holds, per patient and the same keys, a bit set of the months they were served (one row
per five years), so patients served over a long period are a distinct count over few rows.
`count_entry` is called by every service that adds a ledger row, in the same transaction: upserts
(`INSERT … ON CONFLICT DO UPDATE SET services = services + 1`, `months = months | bit`), so concurrent
completions for the same month and case manager both count. `rebuild` recomputes both from the ledger.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.core import months
from portal.core.months import BLOCK_YEARS, bit_of, block_of
from portal.extensions import db

from ..models import LedgerEntry, LedgerMonth, LedgerPatientMonths

KEY = ("month", "case_manager_id", "task_type", "icd10_code", "disease_name", "source")
PATIENT_KEY = ("block", "case_manager_id", "task_type", "icd10_code", "disease_name", "source", "patient_id")
OUTCOME_COUNTS = ("reached", "not_reached", "declined")
ALL_MONTHS = (1 << 12 * BLOCK_YEARS) - 1


def month_of(day: date) -> date:
    return day.replace(day=1)


def months_between(start: date, end: date):
    return months.months_between(LedgerPatientMonths, start, end)


def _insert(model):
    return (pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)


def _keys(entry: LedgerEntry) -> dict:
    return {"case_manager_id": entry.case_manager_id or 0, "task_type": entry.task_type,
            "icd10_code": entry.icd10_code or "", "disease_name": entry.disease_name or "",
            "source": "task" if entry.task_id else "adhoc"}


def write_task_entry(values: dict) -> LedgerEntry:
    """A closing task's ledger row, counted. A task the supervisor reopened after it closed unreached has its row
    already (one per task): the new closing rewrites it, its old counts taken away first."""
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.task_id == values["task_id"]))
    if entry is None:
        entry = LedgerEntry(**values)
        db.session.add(entry)
    else:
        count_entry(entry, -1)
        for key, value in values.items():
            setattr(entry, key, value)
    count_entry(entry)
    return entry


def count_entry(entry: LedgerEntry, sign: int = 1) -> None:
    """Add (sign 1) or take away (sign -1, before the row is changed or deleted) one ledger row's counts."""
    keys = _keys(entry)
    counts = {"services": sign, **{code: sign if entry.outcome == code else 0 for code in OUTCOME_COUNTS}}
    table = LedgerMonth.__table__
    stmt = _insert(LedgerMonth).values(month=month_of(entry.service_date), **keys, **counts)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=list(KEY), set_={name: table.c[name] + stmt.excluded[name] for name in counts}))
    block, bit = block_of(entry.service_date), bit_of(entry.service_date)
    patients = LedgerPatientMonths.__table__
    if sign > 0:
        stmt = _insert(LedgerPatientMonths).values(block=block, patient_id=entry.patient_id, months=bit, **keys)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=list(PATIENT_KEY), set_={"months": patients.c.months.op("|")(stmt.excluded.months)}))
        return
    db.session.execute(delete(LedgerMonth).where(
        LedgerMonth.month == month_of(entry.service_date), *(getattr(LedgerMonth, k) == v for k, v in keys.items()),
        LedgerMonth.services <= 0))
    first = month_of(entry.service_date)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    still = exists().where(
        LedgerEntry.id != entry.id, LedgerEntry.patient_id == entry.patient_id,
        LedgerEntry.service_date >= first, LedgerEntry.service_date < after,
        LedgerEntry.task_type == entry.task_type,
        func.coalesce(LedgerEntry.case_manager_id, 0) == keys["case_manager_id"],
        func.coalesce(LedgerEntry.icd10_code, "") == keys["icd10_code"],
        func.coalesce(LedgerEntry.disease_name, "") == keys["disease_name"],
        LedgerEntry.task_id.is_not(None) if keys["source"] == "task" else LedgerEntry.task_id.is_(None))
    if db.session.scalar(select(still)):
        return
    where = (LedgerPatientMonths.block == block, LedgerPatientMonths.patient_id == entry.patient_id,
             *(getattr(LedgerPatientMonths, k) == v for k, v in keys.items()))
    db.session.execute(update(LedgerPatientMonths).where(*where)
                       .values(months=LedgerPatientMonths.months.op("&")(ALL_MONTHS ^ bit)))
    db.session.execute(delete(LedgerPatientMonths).where(*where, LedgerPatientMonths.months == 0))


def rebuild_sql(dialect: str, month: date | None = None) -> list[str]:
    """The statements that recompute both summaries from the ledger (shared with the migration's back-fill)."""
    if dialect == "postgresql":
        first = "date_trunc('month', service_date)::date"
        year, mon = "extract(year from service_date)::int", "extract(month from service_date)::int"
        one = "1::bigint"
    else:
        first = "date(service_date, 'start of month')"
        year, mon = "cast(strftime('%Y', service_date) as integer)", "cast(strftime('%m', service_date) as integer)"
        one = "1"
    block = f"({year} - {year} % {BLOCK_YEARS})"
    keys = ("coalesce(case_manager_id, 0), task_type, coalesce(icd10_code, ''), coalesce(disease_name, ''), "
            "CASE WHEN task_id IS NULL THEN 'adhoc' ELSE 'task' END")
    where = ""
    if month is not None:
        after = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        where = f"WHERE service_date >= '{month:%Y-%m-%d}' AND service_date < '{after:%Y-%m-%d}'"
    return [f"""
        INSERT INTO ledger_months (month, case_manager_id, task_type, icd10_code, disease_name, source,
                                   services, reached, not_reached, declined)
        SELECT {first}, {keys}, count(*), sum(CASE WHEN outcome = 'reached' THEN 1 ELSE 0 END),
               sum(CASE WHEN outcome = 'not_reached' THEN 1 ELSE 0 END),
               sum(CASE WHEN outcome = 'declined' THEN 1 ELSE 0 END)
        FROM ledger_entries {where}
        GROUP BY 1, 2, 3, 4, 5, 6""", f"""
        INSERT INTO ledger_patient_months (block, case_manager_id, task_type, icd10_code, disease_name, source,
                                           patient_id, months)
        SELECT {block}, {keys}, patient_id, sum(DISTINCT {one} << (({year} - {block}) * 12 + {mon} - 1))
        FROM ledger_entries {where}
        GROUP BY 1, 2, 3, 4, 5, 6, 7"""]


def rebuild(month: date | None = None) -> int:
    """Recompute the summaries from the ledger (one month, or everything). Returns the month rows written."""
    dialect = db.session.get_bind().dialect.name
    if month is None:
        db.session.execute(delete(LedgerMonth))
        db.session.execute(delete(LedgerPatientMonths))
        for sql in rebuild_sql(dialect):
            db.session.execute(text(sql))
        return db.session.scalar(select(func.count()).select_from(LedgerMonth))
    first, bit = month_of(month), bit_of(month)
    db.session.execute(delete(LedgerMonth).where(LedgerMonth.month == first))
    # This month's bit is cleared everywhere, then set again from the month's ledger rows.
    db.session.execute(update(LedgerPatientMonths).where(LedgerPatientMonths.block == block_of(first))
                       .values(months=LedgerPatientMonths.months.op("&")(ALL_MONTHS ^ bit)))
    counts_sql, patients_sql = rebuild_sql(dialect, first)
    db.session.execute(text(counts_sql))
    db.session.execute(text(patients_sql.replace(
        "GROUP BY 1, 2, 3, 4, 5, 6, 7",
        "GROUP BY 1, 2, 3, 4, 5, 6, 7 ON CONFLICT (block, case_manager_id, task_type, icd10_code, disease_name, "
        "source, patient_id) DO UPDATE SET months = ledger_patient_months.months | excluded.months")))
    db.session.execute(delete(LedgerPatientMonths).where(LedgerPatientMonths.months == 0))
    return db.session.scalar(select(func.count()).select_from(LedgerMonth).where(LedgerMonth.month == first))
