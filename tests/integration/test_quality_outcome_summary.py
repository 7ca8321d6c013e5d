"""The outcomes summaries (``quality_outcome_months``, per surgeon and per grade) equal the records after every
write path: imports of surgeries and events, the HIS push, corrections (re-import, a surgery moved to another
month, department, technology or grade; an unmatched event linked by hand), replace-the-period deletes of surgeries
and events, and rebuilds. A surgeon's outcomes read from them are those of the raw computation, for whole and
partial months."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import case, func, or_, select, update

from portal.extensions import db
from portal.quality.events import services as events
from portal.quality.models import EVENT_KINDS, OUTCOME_MEASURES, OutcomeMonth, QualityEvent, Surgery
from portal.quality.outcomes import queries, summary
from portal.quality.surgeries import services as surgeries
from tests import quality_factories as qf
from tests.api_factories import make_token
from tests.factories import make_user
from tests.sqlcount import statements

KINDS = tuple(EVENT_KINDS)


def at(month: int, day: int, hour: int = 8) -> datetime:
    return datetime(2026, month, day, hour, 0)


def stored() -> dict:
    """Both summaries' rows; none is left without operations (the capability report reads the key alone)."""
    out = {}
    for model, keys in summary.TABLES.items():
        rows = list(db.session.scalars(select(model)))
        assert all(r.cases > 0 for r in rows)
        out[model.__tablename__] = {tuple(getattr(r, k) for k in keys): [getattr(r, m) for m in OUTCOME_MEASURES]
                                    for r in rows}
    return out


def raw() -> dict:
    return {model.__tablename__: summary.counts((), keys) for model, keys in summary.TABLES.items()}


def _raw_grouped(key, staff_id, department_id, start, end):
    """The outcomes' former computation, straight from the records: the reference."""
    cols = [func.max(case((QualityEvent.kind == k, 1), else_=0)).label(k) for k in KINDS]
    e = (select(QualityEvent.surgery_id, *cols).where(QualityEvent.surgery_id.is_not(None))
         .group_by(QualityEvent.surgery_id).subquery("e"))
    mine = Surgery.surgeon_id == staff_id
    in_dept = or_(Surgery.department_id == department_id, mine)
    keys = select(key).where(mine, Surgery.operation_date.between(start, end)).distinct()
    cols = [func.count().label("all_cases"), func.sum(case((mine, 1), else_=0)).label("my_cases"),
            func.sum(case((in_dept, 1), else_=0)).label("dept_cases")]
    for k in KINDS:
        flag = func.coalesce(getattr(e.c, k), 0)
        cols += [func.sum(flag).label(f"all_{k}"), func.sum(case((mine, flag), else_=0)).label(f"my_{k}"),
                 func.sum(case((in_dept, flag), else_=0)).label(f"dept_{k}")]
    stmt = (select(key.label("key"), *cols).select_from(Surgery).outerjoin(e, e.c.surgery_id == Surgery.id)
            .where(Surgery.operation_date.between(start, end), key.in_(keys)).group_by(key))
    return db.session.execute(stmt).all()


def _shape(rows):
    return sorted((r.label, r.cases, sorted(r.flags),
                   {k: ((r.mine[k].events, r.mine[k].cases), (r.department[k].events, r.department[k].cases),
                        (r.hospital[k].events, r.hospital[k].cases)) for k in KINDS}) for r in rows)


def assert_outcomes_equal_raw(staff, start, end):
    from portal.catalogue.models import GRADES, Technology

    factor, min_events = queries.rule()
    found = queries.surgeon_outcomes(staff.id, start, end)
    names = dict(db.session.execute(select(Technology.id, Technology.name)).all())
    by_tech = queries._rows(_raw_grouped(Surgery.technology_id, staff.id, staff.department_id, start, end),
                            lambda k: names.get(k, str(k)), factor, min_events)
    by_grade = queries._rows(_raw_grouped(Surgery.grade, staff.id, staff.department_id, start, end),
                             lambda k: GRADES.get(k, f"{k} 级"), factor, min_events)
    assert _shape(found.by_technology) == _shape(by_tech), (staff.name, start, end)
    assert _shape(found.by_grade) == _shape(by_grade), (staff.name, start, end)
    return found


# Whole months; partial first / last months read either way (summary less the days outside, or the days inside).
PERIODS = [(date(2026, 9, 1), date(2026, 11, 30)), (date(2026, 9, 15), date(2026, 11, 10)),
           (date(2026, 10, 3), date(2026, 10, 3)), (date(2026, 10, 1), date(2026, 12, 20)),
           (date(2026, 11, 5), date(2026, 12, 31)), (date(2026, 9, 25), date(2026, 11, 29)),
           (date(2026, 11, 2), date(2026, 11, 29)), (date(2026, 10, 20), date(2026, 11, 3))]


def test_a_period_is_split_into_summary_months_and_the_fewer_raw_days():
    assert queries._split(date(2026, 9, 1), date(2026, 11, 30)) == ((date(2026, 9, 1), date(2026, 11, 1)), [])
    assert queries._split(date(2026, 10, 3), date(2026, 10, 3)) == (None, [(date(2026, 10, 3), date(2026, 10, 3), 1)])
    assert queries._split(date(2026, 11, 2), date(2026, 11, 29)) == (
        (date(2026, 11, 1), date(2026, 11, 1)),
        [(date(2026, 11, 1), date(2026, 11, 1), -1), (date(2026, 11, 30), date(2026, 11, 30), -1)])
    assert queries._split(date(2026, 9, 25), date(2026, 12, 3)) == (
        (date(2026, 10, 1), date(2026, 11, 1)),
        [(date(2026, 9, 25), date(2026, 9, 30), 1), (date(2026, 12, 1), date(2026, 12, 3), 1)])
    assert queries._split(date(2026, 9, 5), date(2026, 12, 28)) == (
        (date(2026, 9, 1), date(2026, 12, 1)),
        [(date(2026, 9, 1), date(2026, 9, 4), -1), (date(2026, 12, 29), date(2026, 12, 31), -1)])


@pytest.fixture
def world(tree):
    tree.surgery.code = "GS"
    db.session.commit()
    qf.make_catalogue()
    people = {"wang": qf.make_surgeon(tree.surgery, "王刀", "W001"), "zhao": qf.make_surgeon(tree.surgery, "赵刀"),
              "li": qf.make_surgeon(tree.cardiology, "李介入")}
    gs, cd = tree.surgery, tree.cardiology
    ops = []
    for n, (month, day) in enumerate([(9, 20), (10, 1), (10, 3), (10, 18), (11, 2), (11, 9), (11, 28), (12, 4)]):
        ops += [qf.surgery(f"W{n}", f"DW{n}", gs, people["wang"], ("T-LC", "T-GAS", "T-HER")[n % 3], at(month, day)),
                qf.surgery(f"Z{n}", f"DZ{n}", gs, people["zhao"], ("T-LC", "T-HER")[n % 2], at(month, day, 10)),
                qf.surgery(f"L{n}", f"DL{n}", cd, people["li"], "T-PCI", at(month, day, 9))]
    # 王刀 also operates in cardiology once (his department's figures include it).
    ops.append(qf.surgery("WX", "DWX", cd, people["wang"], "T-LC", at(10, 20)))
    complications = [{"surgery_record_id": rid, "event_date": date(2026, 11, 30), "name": "出血"}
                     for rid in ("W0", "W1", "W3", "W4", "W6", "Z1", "L2", "WX")]
    complications.append({"surgery_record_id": "W0", "event_date": date(2026, 11, 30), "name": "再出血"})
    reops = [{"surgery_record_id": "W1", "event_date": date(2026, 10, 2), "interval_hours": 30, "name": "再手术"},
             {"surgery_record_id": "Z2", "event_date": date(2026, 10, 20), "interval_hours": 200, "name": "再手术"}]
    ssi = [{"surgery_record_id": "W4", "event_date": date(2026, 11, 12), "name": "切口感染",
            "ssi_depth": "superficial"}]
    qf.save(surgery_rows=ops, event_rows={"complication": complications, "reoperation": reops, "ssi": ssi})
    tree.people = people
    return tree


def check_all(world):
    assert stored() == raw()
    for person in world.people.values():
        for start, end in PERIODS:
            assert_outcomes_equal_raw(person, start, end)


def test_the_summary_equals_the_records_after_every_write_and_outcomes_equal_the_raw_computation(world, client):
    p = world.people
    check_all(world)
    found = assert_outcomes_equal_raw(p["wang"], *PERIODS[0])
    lc = next(r for r in found.by_technology if r.label == "腹腔镜下胆囊切除术")
    assert lc.cases == 4 and lc.department["complication"].cases == 8  # W0, W3, W6, WX; and 赵刀 Z0, Z2, Z4, Z6
    # Re-import unchanged; a correction moves W3 to another month, department, technology and grade.
    qf.save(surgery_rows=[qf.surgery("W3", "DW3", world.surgery, p["wang"], "T-LC", at(10, 18))])
    qf.save(surgery_rows=[qf.surgery("W3", "DW3", world.cardiology, p["wang"], "T-GAS", at(11, 29), grade=3)])
    check_all(world)
    # A new event of an existing kind, a correction of an event to another surgery, an unmatched event.
    qf.save(event_rows={"infection": [{"surgery_record_id": "Z3", "event_date": date(2026, 10, 30), "name": "肺炎"}],
                        "reoperation": [{"surgery_record_id": "W2", "event_date": date(2026, 10, 4),
                                         "interval_hours": 20, "name": "再手术", "event_no": "R1"}]})
    qf.save(event_rows={"reoperation": [{"surgery_record_id": "W5", "event_date": date(2026, 10, 4),
                                         "interval_hours": 20, "name": "再手术", "event_no": "R1"}],
                        "complication": [{"surgery_record_id": "NOPE", "event_date": date(2026, 11, 3),
                                          "name": "出血", "event_no": "C-WAIT"}]})
    check_all(world)
    waiting = db.session.scalar(select(QualityEvent).where(QualityEvent.event_no == "C-WAIT"))
    assert waiting.status == "unmatched"
    events.link_event(waiting, "Z5")
    db.session.commit()
    check_all(world)
    # A surgery written after its event: the waiting event is matched by the surgery write.
    qf.save(event_rows={"ssi": [{"surgery_record_id": "LATE", "event_date": date(2026, 11, 20), "name": "感染",
                                 "ssi_depth": "deep"}]})
    qf.save(surgery_rows=[qf.surgery("LATE", "DLATE", world.surgery, p["zhao"], "T-GAS", at(11, 19))])
    check_all(world)
    # The HIS push of surgeries (a new one and a correction).
    make_user("his_quality", ["ma_staff"], world.hospital, name="HIS 接口")
    _, token = make_token("his_quality", scopes=("quality.push",), name="HIS 质量数据")
    items = [{"record_id": "API1", "discharge_record_id": "DAPI", "mrn": "ZYDAPI", "department_id": "GS",
              "surgeon_id": "W001", "operation": "T-HER", "urgency": "elective", "started_at": "2026-11-03 08:30"},
             {"record_id": "W6", "discharge_record_id": "DW6", "mrn": "ZYDW6", "department_id": "GS",
              "surgeon_id": "W001", "operation": "T-HER", "urgency": "emergency", "started_at": "2026-10-03 08:30"}]
    response = client.post("/api/v1/quality/surgeries", json={"items": items},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    check_all(world)
    # Replace-the-period deletes: events of a kind, then surgeries (their events wait again).
    events.delete_period("complication", date(2026, 11, 30), date(2026, 11, 30))
    db.session.commit()
    check_all(world)
    surgeries.delete_period(date(2026, 10, 1), date(2026, 10, 10))
    db.session.commit()
    check_all(world)
    # A summary gone wrong is put right by the rebuild (all, or one month).
    db.session.execute(update(OutcomeMonth).values(cases=OutcomeMonth.cases + 2))
    summary.rebuild(date(2026, 11, 1))
    db.session.commit()
    assert stored() != raw()
    summary.rebuild()
    db.session.commit()
    check_all(world)


def test_outcomes_read_the_summary_not_the_hospital_s_operations(world):
    with statements(only="SELECT") as selects:
        queries.surgeon_outcomes(world.people["wang"].id, date(2026, 9, 1), date(2026, 11, 30))
    on_records = [s for s in selects if "quality_surgeries" in s]
    assert len(on_records) == 1 and "surgeon_id" in on_records[0]  # only the surgeon's own operations
    assert sum("quality_outcome_months" in s for s in selects) == 1  # by technology
    assert sum("quality_grade_outcome_months" in s for s in selects) == 1  # by grade
    assert len(selects) == 5  # the surgeon's department, own operations, two comparisons, technology names


def test_outcomes_over_random_periods_equal_the_raw_computation(world):
    import random

    rng = random.Random(20261201)
    for _ in range(12):
        start = date(2026, 8, 1) + timedelta(days=rng.randrange(0, 120))
        end = start + timedelta(days=rng.randrange(0, 150))
        for person in world.people.values():
            assert_outcomes_equal_raw(person, start, end)


def test_the_flag_rule_is_unchanged(world, app):
    app.config["QUALITY_OUTCOME_FACTOR"] = 1.1
    app.config["QUALITY_OUTCOME_MIN_EVENTS"] = 1
    try:
        found = assert_outcomes_equal_raw(world.people["wang"], date(2026, 9, 1), date(2026, 12, 31))
        assert found.flagged
    finally:
        app.config.pop("QUALITY_OUTCOME_FACTOR")
        app.config.pop("QUALITY_OUTCOME_MIN_EVENTS")


def test_the_migration_backfill_counts_as_the_writes_do(world):
    import importlib.util
    from pathlib import Path

    from sqlalchemy import delete, text

    path = next(Path("migrations/versions").glob("*_0028_quality_outcome_months.py"))
    spec = importlib.util.spec_from_file_location("outcome_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    kept = stored()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    month = "date_trunc('month', s.operation_date)::date" if postgres else "date(s.operation_date, 'start of month')"
    for model, keys in summary.TABLES.items():
        db.session.execute(delete(model))
        extra = keys[2:]
        db.session.execute(text(migration.BACKFILL.format(
            table=model.__tablename__, keys=", ".join(extra), s_keys=", ".join(f"s.{k}" for k in extra),
            measures=", ".join(migration.MEASURES), month=month)))
        assert migration.KEYS[model.__tablename__] == extra
    db.session.expire_all()
    assert stored() == kept == raw()
