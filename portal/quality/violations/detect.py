"""Violations derived from the surgeries, set-based: a few INSERT ... SELECT per write, never a query per surgery.

`evaluate(scope)` re-derives the violations of the surgeries in `scope` (a condition on the surgery table,
built by `for_ids` or `for_period`): open violations there are dropped and found again, handled ones stay (a
surgery is never flagged twice for one kind: the table's unique key). Then one risk alert per surgeon and day
(unique key, insert-or-nothing, so concurrent imports notify once), and the first case of a restricted
technology opens its filing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import and_, case, delete, exists, func, literal, not_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from portal.catalogue.models.technologies import Technology
from portal.core.timeutil import utcnow
from portal.credentials.models.privileges import Privilege
from portal.credentials.privileges.check import covering_condition
from portal.extensions import db

from ..models import QualityRiskAlert, QualityViolation, Surgery

CHUNK = 2000
MEDICAL_AFFAIRS = ("ma_admin", "ma_staff")
S = aliased(Surgery, name="s")
T = aliased(Technology, name="t")


def for_ids(ids: list[int]):
    """These surgeries; the other surgeries of their surgeons from the day before to the day after (an overlap has
    two sides, and an operation may run past midnight); and the surgeries whose open overlap names one of them (the
    other side, when a correction moved this one to another surgeon or time)."""
    x, o = aliased(Surgery, name="x"), aliased(Surgery, name="o")
    v = QualityViolation
    return or_(
        S.id.in_(select(o.id).join(x, and_(x.surgeon_id == o.surgeon_id,
                                           o.operation_date.between(_days_after(x.operation_date, -1),
                                                                    _days_after(x.operation_date, 1))))
                 .where(x.id.in_(ids))),
        S.id.in_(select(v.surgery_id).where(v.kind == "overlap", v.status == "open", v.other_surgery_id.in_(ids))))


def _days_after(day, n: int):
    """`day` + n days as an SQL date (SQLite keeps dates as ISO text)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return day + n  # date + integer is a date
    return func.date(day, f"{n:+d} day")


def for_period(start: date, end: date):
    return S.operation_date.between(start, end)


def _insert():
    return pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _counts_on_day(p):
    return and_(p.staff_id == S.surgeon_id, p.status.in_(("active", "expired")), p.valid_from <= S.operation_date,
                p.valid_to >= S.operation_date)


def _privilege_select(now):
    p = aliased(Privilege, name="p")
    covering = and_(p.staff_id == S.surgeon_id, covering_condition("perform", T, p))
    reason = case(
        (exists().where(covering, p.status == "suspended", p.valid_from <= S.operation_date,
                        p.valid_to >= S.operation_date), literal("suspended")),
        (exists().where(covering, p.valid_to < S.operation_date), literal("expired")),
        (exists().where(covering, p.valid_from > S.operation_date), literal("future")),
        (or_(T.restricted.is_(True), T.new_tech.is_(True)), literal("own_only")),
        else_=literal("none"))
    return (select(S.id, literal("privilege"), reason, S.surgeon_id, S.department_id, S.operation_date,
                   literal(None).label("other"), literal("open"), literal(""), literal(now), literal(now))
            .join(T, T.id == S.technology_id)
            .where(not_(exists().where(_counts_on_day(p), covering_condition("perform", T, p)))))


def _overlap_select(now):
    o = aliased(Surgery, name="o")
    # The day before to the day after: an operation that runs past midnight overlaps the next day's.
    other = (select(func.min(o.id)).where(o.surgeon_id == S.surgeon_id, o.id != S.id,
                                          o.operation_date.between(_days_after(S.operation_date, -1),
                                                                   _days_after(S.operation_date, 1)),
                                          o.started_at < S.ended_at, S.started_at < o.ended_at)
             .scalar_subquery())
    return (select(S.id, literal("overlap"), literal(""), S.surgeon_id, S.department_id, S.operation_date,
                   other, literal("open"), literal(""), literal(now), literal(now))
            .where(S.ended_at.is_not(None), other.is_not(None)))


def _planned_select(now):
    return (select(S.id, literal("planned"), literal(""), S.surgeon_id, S.department_id, S.operation_date,
                   literal(None), literal("open"), literal(""), literal(now), literal(now))
            .where(S.planned_surgeon_id.is_not(None), S.planned_surgeon_id != S.surgeon_id))


COLUMNS = ("surgery_id", "kind", "reason", "staff_id", "department_id", "operation_date", "other_surgery_id",
           "status", "note", "created_at", "updated_at")


def evaluate(scope, notify: bool = True) -> int:
    """Re-derive the violations of the surgeries in `scope`; returns how many open violations it wrote.

    `notify=False` (loading history, the benchmark): the alerts are recorded as sent without notifying, and no
    first-case filing is opened."""
    table = QualityViolation.__table__
    in_scope = select(S.id).where(scope)
    db.session.execute(delete(QualityViolation).where(QualityViolation.status == "open",
                                                      QualityViolation.surgery_id.in_(in_scope)))
    now, written = utcnow(), 0
    insert = _insert()
    for build in (_privilege_select, _overlap_select, _planned_select):
        stmt = build(now).where(scope)
        written += db.session.execute(insert(table).from_select(COLUMNS, stmt)
                                      .on_conflict_do_nothing(index_elements=["surgery_id", "kind"])).rowcount or 0
    _alerts(scope, now, notify)
    if notify:
        _first_cases(scope)
    return written


def evaluate_ids(ids: Iterable[int]) -> int:
    ids = sorted(set(ids))
    return sum(evaluate(for_ids(ids[i:i + CHUNK])) for i in range(0, len(ids), CHUNK))


def after_write(record_ids: Iterable[str]) -> int:
    """What the import and the push call after writing surgeries (by record id)."""
    record_ids = list(record_ids)
    ids: list[int] = []
    for i in range(0, len(record_ids), CHUNK):
        ids += db.session.scalars(select(Surgery.id).where(Surgery.record_id.in_(record_ids[i:i + CHUNK]))).all()
    return evaluate_ids(ids)


def _alerts(scope, now, notify: bool = True) -> None:
    """One alert per surgeon and day with an open violation in scope: new keys only, then notify them."""
    v = QualityViolation
    days = (select(v.staff_id, v.operation_date, func.count(), literal(now), literal(now))
            .where(v.status == "open", v.surgery_id.in_(select(S.id).where(scope)))
            .group_by(v.staff_id, v.operation_date))
    table = QualityRiskAlert.__table__
    new = db.session.execute(_insert()(table).from_select(("staff_id", "day", "count", "created_at", "updated_at"),
                                                          days)
                             .on_conflict_do_nothing(index_elements=["staff_id", "day"])
                             .returning(table.c.staff_id, table.c.day)).all()
    for staff_id, day in new if notify else ():
        _notify(staff_id, day)


def _notify(staff_id: int, day: date) -> None:
    from portal.auth.models import Staff
    from portal.auth.queries import active_user_ids_with_roles
    from portal.core.timeutil import format_date
    from portal.notify.services import notify

    from ..models import VIOLATION_KINDS

    rows = db.session.execute(
        select(QualityViolation.kind, QualityViolation.department_id, Surgery.record_id, Surgery.operation_name)
        .join(Surgery, Surgery.id == QualityViolation.surgery_id)
        .where(QualityViolation.staff_id == staff_id, QualityViolation.operation_date == day)
        .order_by(Surgery.started_at, QualityViolation.kind)).all()
    if not rows:
        return
    staff = db.session.get(Staff, staff_id)
    departments = {r.department_id for r in rows}
    users = set(active_user_ids_with_roles(MEDICAL_AFFAIRS))
    for dept in departments:
        users |= set(active_user_ids_with_roles(("dept_head",), dept))
    lines = [f"{r.record_id} {r.operation_name}：{VIOLATION_KINDS.get(r.kind, r.kind)}" for r in rows[:20]]
    if len(rows) > 20:
        lines.append(f"……共 {len(rows)} 项")
    link = f"/quality/violations?staff_id={staff_id}&start={day.isoformat()}&end={day.isoformat()}"
    notify(users, "quality_risk", f"手术风险预警：{staff.name if staff else ''} {format_date(day)}",
           "\n".join(lines), link)


def _first_cases(scope) -> None:
    """A restricted technology in scope with no filing yet: its earliest surgery is the first case."""
    from portal.catalogue.filings.services import open_filing
    from portal.catalogue.models import RestrictedFiling
    from portal.core.service import ServiceError

    techs = db.session.scalars(
        select(T.id).where(T.restricted.is_(True), T.id.in_(select(S.technology_id).where(scope).distinct()),
                           not_(exists().where(RestrictedFiling.technology_id == T.id)))).all()
    for tech_id in techs:
        first = db.session.execute(select(Surgery).where(Surgery.technology_id == tech_id)
                                   .order_by(Surgery.started_at, Surgery.id).limit(1)).scalar_one_or_none()
        if first is None:
            continue
        try:
            open_filing(technology_id=tech_id, first_case_date=first.operation_date, patient_record_no=first.mrn,
                        surgeon_staff_id=first.surgeon_id, department_id=first.department_id, source="surgery")
        except ServiceError:
            continue  # too old to file, or a surgeon no longer in post: medical affairs files it by hand
