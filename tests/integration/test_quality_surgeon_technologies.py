"""``quality_surgeon_technology_months`` (the months' bits of each surgeon's technology, grade, kind and department)
equals the operations after every write path: imports, the HIS push, corrections (another month, department,
technology, grade; a re-import unchanged), replace-the-period deletes (part of a month, a whole month), rebuilds
(one month, all) and the migration's back-fill. The capability report by surgeon reads it for whole months with the
same rows and totals as on the operations, across two five-year blocks and in a department head's scope."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, datetime

import pytest
from sqlalchemy import delete, select, text, update

from portal.extensions import db
from portal.quality.models import SurgeonTechnologyMonths, Surgery
from portal.quality.reports import surgeries as reports
from portal.quality.reports import technologies
from portal.quality.surgeries import services as surgeries
from portal.reports import engine
from portal.reports.params import Params
from tests import quality_factories as qf
from tests.api_factories import make_token
from tests.factories import make_user

REPORT = reports.SURGEON_CAPABILITY


def at(year: int, month: int, day: int, hour: int = 8) -> datetime:
    return datetime(year, month, day, hour, 0)


def stored() -> dict:
    rows = list(db.session.scalars(select(SurgeonTechnologyMonths)))
    assert all(r.months for r in rows)  # a key without operations has no row
    return {(r.block, *(getattr(r, k) for k in technologies.KEY)): r.months for r in rows}


def raw() -> dict:
    """The reference, in Python from the operations."""
    out: dict[tuple, int] = defaultdict(int)
    for s in db.session.scalars(select(Surgery)):
        out[(technologies.block_of(s.operation_date), *(getattr(s, k) for k in technologies.KEY))] |= \
            technologies.bit_of(s.operation_date)
    return dict(out)


@pytest.fixture
def world(tree):
    tree.surgery.code = "GS"
    db.session.commit()
    qf.make_catalogue()
    people = {"wang": qf.make_surgeon(tree.surgery, "王刀", "W001"), "zhao": qf.make_surgeon(tree.surgery, "赵刀"),
              "li": qf.make_surgeon(tree.cardiology, "李介入")}
    gs, cd = tree.surgery, tree.cardiology
    ops = []
    # 2024 (block 2020) and 2025-2026 (block 2025); 王刀 operates in cardiology once too.
    days = [(2024, 11, 20), (2024, 12, 31), (2025, 1, 1), (2026, 9, 20), (2026, 10, 1), (2026, 10, 3),
            (2026, 10, 18), (2026, 11, 2), (2026, 11, 28), (2026, 12, 4)]
    for n, day in enumerate(days):
        ops += [qf.surgery(f"W{n}", f"DW{n}", gs, people["wang"], ("T-LC", "T-GAS", "T-HER")[n % 3], at(*day)),
                qf.surgery(f"Z{n}", f"DZ{n}", gs, people["zhao"], ("T-LC", "T-HER")[n % 2], at(*day, hour=10)),
                qf.surgery(f"L{n}", f"DL{n}", cd, people["li"], ("T-PCI", "T-EGD")[n % 2], at(*day, hour=9))]
    ops.append(qf.surgery("WX", "DWX", cd, people["wang"], "T-LC", at(2026, 10, 20)))
    qf.save(surgery_rows=ops)
    tree.people = people
    return tree


PERIODS = [(date(2026, 10, 1), date(2026, 10, 31)), (date(2026, 9, 1), date(2026, 11, 30)),
           (date(2024, 12, 1), date(2025, 1, 31)), (date(2022, 1, 1), date(2026, 12, 31)),
           (date(2024, 11, 1), date(2026, 10, 31)), (date(2026, 12, 1), date(2026, 12, 31))]
OPTIONS = ({}, {"grade": "3"}, {"kind": "surgery", "mi": "1"})


def assert_report_equals_records(head):
    for start, end in PERIODS:
        for chosen in OPTIONS:
            params = Params(start, end, None, None, chosen, "")
            for user in (None, head):
                rolled_stmt = REPORT.rollup.query(params, user)
                if not chosen:
                    assert "quality_surgeon_technology_months" in str(rolled_stmt)
                found = db.session.execute(engine.restrict(REPORT, REPORT.query(params), params, user)).mappings().all()
                rolled = db.session.execute(rolled_stmt).mappings().all()
                assert [dict(r) for r in found] == [dict(r) for r in rolled], (start, end, chosen, user)
            # Totals ("query": recounted over every row, not added up) too, through the engine, in either scope.
            for user in (None, head):
                assert engine.fetch(REPORT, params, user) == engine.fetch(
                    dataclasses.replace(REPORT, rollup=None), params, user), (start, end, chosen, user)


def check(world):
    assert stored() == raw()
    assert_report_equals_records(world.head)


def test_the_summary_equals_the_operations_after_every_write_and_the_report_reads_it(world, client):
    p = world.people
    world.head = make_user("tech_head", ["dept_head"], world.surgery, name="普外主任")
    db.session.commit()
    check(world)
    assert {k[0] for k in stored()} == {2020, 2025}
    # Re-import unchanged; corrections move W5 to another month, department, technology and grade, and W0 (the
    # only 2024-11 one of its key) to 2025.
    qf.save(surgery_rows=[qf.surgery("W5", "DW5", world.surgery, p["wang"], "T-GAS", at(2026, 10, 3))])
    check(world)
    qf.save(surgery_rows=[qf.surgery("W5", "DW5", world.cardiology, p["wang"], "T-HER", at(2026, 11, 29), grade=3),
                          qf.surgery("W0", "DW0", world.surgery, p["wang"], "T-LC", at(2025, 2, 3))])
    check(world)
    # The HIS push: a new operation and a correction.
    make_user("his_quality", ["ma_staff"], world.hospital, name="HIS 接口")
    _, token = make_token("his_quality", scopes=("quality.push",), name="HIS 质量数据")
    items = [{"record_id": "API1", "discharge_record_id": "DAPI", "mrn": "ZYDAPI", "department_id": "GS",
              "surgeon_id": "W001", "operation": "T-EGD", "urgency": "elective", "started_at": "2026-11-03 08:30"},
             {"record_id": "W8", "discharge_record_id": "DW8", "mrn": "ZYDW8", "department_id": "GS",
              "surgeon_id": "W001", "operation": "T-PCI", "urgency": "emergency", "started_at": "2026-10-03 08:30"}]
    response = client.post("/api/v1/quality/surgeries", json={"items": items},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    check(world)
    # Replace-the-period deletes: part of a month (other operations of the same keys remain), then a whole one.
    surgeries.delete_period(date(2026, 10, 1), date(2026, 10, 10))
    db.session.commit()
    check(world)
    surgeries.delete_period(date(2024, 12, 1), date(2024, 12, 31))
    db.session.commit()
    check(world)
    # A summary gone wrong is put right by the rebuild (one month, then all).
    db.session.execute(update(SurgeonTechnologyMonths).values(months=SurgeonTechnologyMonths.months.op("|")(1)))
    technologies.rebuild(date(2026, 11, 1))
    db.session.commit()
    assert stored() != raw()
    technologies.rebuild(date(2025, 1, 1))
    technologies.rebuild(date(2020, 1, 1))  # no operations that month: its bit cleared, rows without bits gone
    db.session.commit()
    assert stored() == raw()
    db.session.execute(update(SurgeonTechnologyMonths).values(months=SurgeonTechnologyMonths.months.op("|")(2)))
    technologies.rebuild()
    db.session.commit()
    check(world)


def test_the_migration_backfill_equals_the_writes(world):
    import importlib.util
    from pathlib import Path

    path = next(Path("migrations/versions").glob("*_0042_surgeon_technology_months.py"))
    spec = importlib.util.spec_from_file_location("surgeon_technologies_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    kept = stored()
    db.session.execute(delete(SurgeonTechnologyMonths))
    db.session.execute(text(migration.backfill_sql(db.session.get_bind().dialect.name)))
    db.session.expire_all()
    assert stored() == kept == raw()


def test_the_period_condition_has_a_term_per_block():
    sql = str(technologies.months_between(date(2024, 11, 1), date(2025, 2, 28)).compile(
        compile_kwargs={"literal_binds": True}))
    assert sql.count("block") == 2
    # 2024-11 and 2024-12 are bits 58 and 59 of block 2020; 2025-01 and 2025-02 bits 0 and 1 of block 2025.
    assert str((1 << 58) | (1 << 59)) in sql and "& 3" in sql
