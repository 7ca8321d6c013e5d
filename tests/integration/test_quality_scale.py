"""Quality query shapes at scale: each list and indicator filter has an index the planner uses (PostgreSQL plans
with sequential scans priced out, as on five years of data)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.quality.discharges.queries import list_query as discharge_list
from portal.quality.events.queries import list_query as event_list
from portal.quality.indicators.reports import INDICATOR_REPORT
from portal.quality.models import Surgery
from portal.quality.surgeries.queries import list_query as surgery_list
from portal.quality.violations.services import list_query as violation_list
from portal.reports import engine
from portal.reports.params import Params
from tests.factories import make_user
from tests.integration.test_scale_queries import plan_of

START, END = date(2026, 11, 1), date(2026, 11, 30)


@pytest.mark.postgres_only
def test_lists_indicators_and_flag_derivation_read_by_index(session, tree):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the planner's choice of index is PostgreSQL's")
    ma = make_user("qa_ma", ["ma_staff"], tree.hospital).principal
    head = make_user("gs_head", ["dept_head"], tree.surgery).principal
    assert "ix_quality_discharges_period" in plan_of(discharge_list(ma, START, END, None))
    assert "ix_quality_discharges_department" in plan_of(discharge_list(head, START, END, tree.surgery.id)) or \
        "ix_quality_discharges_period" in plan_of(discharge_list(head, START, END, tree.surgery.id))
    surgeries = plan_of(surgery_list(ma, START, END, None, grade="4").limit(20))
    assert "ix_quality_surgeries_grade" in surgeries or "ix_quality_surgeries_period" in surgeries
    # The list's order leads with the indexed date (on five years the planner reads a page backwards off the
    # index with an incremental sort instead of sorting the month; an empty table is simply sorted).
    order = str(surgery_list(ma, START, END, None, grade="4")).split("ORDER BY")[1]
    assert order.split(",")[0].strip() == "quality_surgeries.operation_date DESC"
    assert "ix_quality_events" in plan_of(event_list(ma, START, END, None))
    department = Params(START, END, START, tree.surgery.id, {}, "")
    indicator = plan_of(engine.statement(INDICATOR_REPORT, department, None))
    assert "ix_quality_discharges" in indicator and "Seq Scan on quality_discharges" not in indicator
    derive = plan_of(select(Surgery.id).where(Surgery.discharge_record_id.in_(["D1", "D2"])))
    assert "ix_quality_surgeries_discharge_record_id" in derive
    # One kind of violation in every state: a page off the kind index, never the whole table.
    overlaps = plan_of(violation_list(ma, kind="overlap", status="").limit(20))
    assert "ix_quality_violations_kind" in overlaps and "Seq Scan on quality_violations" not in overlaps


@pytest.mark.postgres_only
def test_surgeon_capability_outcomes_and_their_summaries_read_by_index(session, tree):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the planner's choice of index is PostgreSQL's")
    from portal.quality.outcomes import summary as outcome_months
    from portal.quality.reports import surgeries as reports

    three_years = Params(date(2023, 12, 1), END, None, None, {}, "")
    # The capability report by surgeon: no sequential scan, and the surgeon index covers its columns (on five
    # years of data the planner reads that index alone; on an empty table it may prefer another index).
    capability = plan_of(engine.statement(reports.SURGEON_CAPABILITY, three_years, None))
    assert "Seq Scan on quality_surgeries" not in capability
    from sqlalchemy import text

    definition = db.session.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                                   {"name": "ix_quality_surgeries_surgeon"})
    assert "(surgeon_id, operation_date) INCLUDE (technology_id, grade, kind)" in definition
    # A surgeon's own operations (the outcomes' only read of the records) by an index: the surgeon's on five years
    # of data; on the few rows earlier tests leave analysed, the period index costs the same and may be chosen.
    mine = plan_of(outcome_months.grouped((Surgery.surgeon_id == 7, Surgery.operation_date.between(START, END)),
                                          keys=[Surgery.technology_id]))
    assert "ix_quality_surgeries_surgeon" in mine or "ix_quality_surgeries_period" in mine
    assert "Seq Scan on quality_surgeries" not in mine
    # The hospital's rates of a technology from the summary's technology index.
    from sqlalchemy import func

    from portal.quality.models import OutcomeMonth

    by_technology = plan_of(select(func.sum(OutcomeMonth.cases)).where(
        OutcomeMonth.technology_id.in_([1, 2]), OutcomeMonth.month.between(START, END)))
    # The technology index exists and leads with the technology; on the few rows analysed here the planner may
    # prefer the month key at the same cost, never the whole table.
    assert "Seq Scan on quality_outcome_months" not in by_technology
    assert "(technology_id" in db.session.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                                                 {"name": "ix_quality_outcome_months_technology"})
