"""The ledger's summaries, kept current by the writes and rebuilt on demand.

`ledger_months` holds the counts (services and outcomes) per month, case manager, type, disease and source;
`ledger_patient_months` holds, per patient and the same keys, a bit set of the months they were served (one row
per five years), so patients served over a long period are a distinct count over few rows.
`ledger_served_months` holds the distinct patients served per month over the whole ledger (the KPIs' 服务患者数),
kept exact by `ledger_served_patients` (per patient, the bit set of months served at all).
`count_entry` is called by every service that adds a ledger row, in the same transaction: upserts
(`INSERT … ON CONFLICT DO UPDATE SET services = services + 1`, `months = months | bit`), so concurrent
completions for the same month and case manager both count. `rebuild` recomputes both from the ledger.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, exists, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.core import months
from portal.core.months import BLOCK_YEARS, bit_of, block_of
from portal.extensions import db

from ..models import LedgerEntry, LedgerMonth, LedgerPatientMonths, LedgerServedMonth, LedgerServedPatients

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
        _count_served(entry)
        return
    _uncount_served(entry)
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


def _month_after(day: date) -> date:
    first = month_of(day)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _add_served(month: date, change: int) -> None:
    stmt = _insert(LedgerServedMonth).values(month=month, patients=change)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=["month"], set_={"patients": LedgerServedMonth.patients + stmt.excluded.patients}))


def _count_served(entry: LedgerEntry) -> None:
    """The entry's patient counted in its month if it is the month's first service to them: the upsert sets the
    bit and returns a row only when the bit was clear (concurrent writers wait on the row and see it set)."""
    table = LedgerServedPatients.__table__
    stmt = _insert(LedgerServedPatients).values(block=block_of(entry.service_date), patient_id=entry.patient_id,
                                                months=bit_of(entry.service_date))
    stmt = stmt.on_conflict_do_update(index_elements=["block", "patient_id"],
                                      set_={"months": table.c.months.op("|")(stmt.excluded.months)},
                                      where=table.c.months.op("&")(stmt.excluded.months) == 0)
    if db.session.execute(stmt.returning(literal(1))).first() is not None:
        _add_served(month_of(entry.service_date), 1)


def _uncount_served(entry: LedgerEntry) -> None:
    """Before the entry is changed or deleted: its patient no longer counted in its month unless another row of the
    month serves them. The patient's row is locked first, so two such changes at once do not both see the other."""
    block, bit = block_of(entry.service_date), bit_of(entry.service_date)
    where = (LedgerServedPatients.block == block, LedgerServedPatients.patient_id == entry.patient_id)
    if db.session.scalar(select(LedgerServedPatients.months).where(*where).with_for_update()) is None:
        return
    still = exists().where(LedgerEntry.id != entry.id, LedgerEntry.patient_id == entry.patient_id,
                           LedgerEntry.service_date >= month_of(entry.service_date),
                           LedgerEntry.service_date < _month_after(entry.service_date))
    if db.session.scalar(select(still)):
        return
    cleared = db.session.execute(
        update(LedgerServedPatients).where(*where, LedgerServedPatients.months.op("&")(bit) != 0)
        .values(months=LedgerServedPatients.months.op("&")(ALL_MONTHS ^ bit))).rowcount
    if cleared:
        _add_served(month_of(entry.service_date), -1)
    db.session.execute(delete(LedgerServedPatients).where(*where, LedgerServedPatients.months == 0))


def served_patients(month: date):
    """A scalar subquery: the month's distinct patients served (0 when nobody was)."""
    return func.coalesce(select(LedgerServedMonth.patients).where(LedgerServedMonth.month == month_of(month))
                         .scalar_subquery(), 0)


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
        GROUP BY 1, 2, 3, 4, 5, 6, 7""", f"""
        INSERT INTO ledger_served_patients (block, patient_id, months)
        SELECT {block}, patient_id, sum(DISTINCT {one} << (({year} - {block}) * 12 + {mon} - 1))
        FROM ledger_entries {where}
        GROUP BY 1, 2""", f"""
        INSERT INTO ledger_served_months (month, patients)
        SELECT {first}, count(DISTINCT patient_id) FROM ledger_entries {where} GROUP BY 1"""]


def rebuild(month: date | None = None) -> int:
    """Recompute the summaries from the ledger (one month, or everything). Returns the month rows written."""
    dialect = db.session.get_bind().dialect.name
    if month is None:
        for model in (LedgerMonth, LedgerPatientMonths, LedgerServedPatients, LedgerServedMonth):
            db.session.execute(delete(model))
        for sql in rebuild_sql(dialect):
            db.session.execute(text(sql))
        return db.session.scalar(select(func.count()).select_from(LedgerMonth))
    first, bit = month_of(month), bit_of(month)
    db.session.execute(delete(LedgerMonth).where(LedgerMonth.month == first))
    db.session.execute(delete(LedgerServedMonth).where(LedgerServedMonth.month == first))
    # This month's bit is cleared everywhere, then set again from the month's ledger rows.
    for model in (LedgerPatientMonths, LedgerServedPatients):
        db.session.execute(update(model).where(model.block == block_of(first))
                           .values(months=model.months.op("&")(ALL_MONTHS ^ bit)))
    counts_sql, patients_sql, served_sql, served_months_sql = rebuild_sql(dialect, first)
    db.session.execute(text(counts_sql))
    db.session.execute(text(patients_sql.replace(
        "GROUP BY 1, 2, 3, 4, 5, 6, 7",
        "GROUP BY 1, 2, 3, 4, 5, 6, 7 ON CONFLICT (block, case_manager_id, task_type, icd10_code, disease_name, "
        "source, patient_id) DO UPDATE SET months = ledger_patient_months.months | excluded.months")))
    db.session.execute(text(served_sql.replace(
        "GROUP BY 1, 2", "GROUP BY 1, 2 ON CONFLICT (block, patient_id) "
        "DO UPDATE SET months = ledger_served_patients.months | excluded.months")))
    db.session.execute(text(served_months_sql))
    for model in (LedgerPatientMonths, LedgerServedPatients):
        db.session.execute(delete(model).where(model.months == 0))
    return db.session.scalar(select(func.count()).select_from(LedgerMonth).where(LedgerMonth.month == first))
