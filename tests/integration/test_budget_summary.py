"""The spending summary (budget_spending_months): kept current by every write of an expenditure (one by one, the
finance import, an approval's outcome), equal to a rebuild from the expenditures, and the spending report reads it
for whole months (five years allowed) with the same rows as the expenditures themselves."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from portal.approvals import services as approvals
from portal.budget.execution import summary
from portal.budget.execution.queries import dashboard_query, dashboard_rows, execution
from portal.budget.models import BudgetProject, Expenditure, SpendingMonth
from portal.budget.reports import SPENDING
from portal.extensions import db
from portal.io import imports
from portal.reports import engine
from portal.reports.params import Params
from tests.conftest import text_of, xlsx_bytes
from tests.integration.test_budget import END, START, YEAR, approve_all, finance_rows, line, make_project, people, spend


def held() -> dict:
    return {(r.project_id, r.line_id, r.month): (r.expenditures, Decimal(r.committed).quantize(Decimal("0.01")),
                                                 Decimal(r.spent).quantize(Decimal("0.01")))
            for r in db.session.scalars(select(SpendingMonth).execution_options(populate_existing=True))}


def rebuilt() -> dict:
    """What the summary should hold, recomputed from the expenditures (then left in place)."""
    summary.rebuild()
    return held()


def check_equal_to_rebuild() -> dict:
    before = held()
    assert before == rebuilt()
    return before


def test_each_write_keeps_the_summary_equal_to_the_expenditures(client, tree):
    p = people(tree)
    project = make_project(tree, approve_over_line=True)
    pid = project.id
    spend(project, p["ma"], "A01", "10.10", "S1", day=date(YEAR, 1, 5))
    spend(project, p["ma"], "A01", "0.20", "S2", day=date(YEAR, 1, 31))
    spend(project, p["ma"], "A02", "3.00", "S3", day=date(YEAR, 2, 1))
    over = spend(project, p["ma"], "B01", "120.00", "S4", reason="外请专家", day=date(YEAR, 2, 3))
    assert over.status == "committed"
    got = check_equal_to_rebuild()
    assert got[(pid, line(pid, "A01").id, date(YEAR, 1, 1))] == (2, Decimal("0.00"), Decimal("10.30"))
    assert got[(pid, line(pid, "B01").id, date(YEAR, 2, 1))] == (1, Decimal("120.00"), Decimal("0.00"))
    good = finance_rows(*(["ZD-01", "A02", f"{YEAR}-03-{n + 1:02d}", "0.10", "小额", f"G{n}", ""] for n in range(12)))
    imports.commit("budget_expenditures", "财务.xlsx", xlsx_bytes(good), "upsert", user_id=None)
    got = check_equal_to_rebuild()
    assert got[(pid, line(pid, "A02").id, date(YEAR, 3, 1))] == (12, Decimal("0.00"), Decimal("1.20"))
    db.session.commit()
    approve_all(client, over.approval_id)  # committed -> spent
    assert check_equal_to_rebuild()[(pid, line(pid, "B01").id, date(YEAR, 2, 1))] == (1, Decimal("0.00"),
                                                                                      Decimal("120.00"))
    rejected = spend(db.session.get(BudgetProject, pid), p["ma"], "B01", "5.00", "S5", reason="再超",
                     day=date(YEAR, 4, 1))
    approvals.withdraw(rejected.approval_id, p["ma"], "不再需要")  # committed -> rejected
    assert db.session.get(Expenditure, rejected.id, populate_existing=True).status == "rejected"
    assert check_equal_to_rebuild()[(pid, line(pid, "B01").id, date(YEAR, 4, 1))] == (1, Decimal("0.00"),
                                                                                      Decimal("0.00"))
    figures = execution(db.session.get(BudgetProject, pid)).total
    assert (figures.committed, figures.spent) == (Decimal("0.00"), Decimal("134.50"))
    [row] = dashboard_rows(dashboard_query(p["ma"].principal))
    assert (row["figures"].committed, row["figures"].spent) == (Decimal("0.00"), Decimal("134.50"))


def test_the_report_reads_the_summary_for_whole_months_with_the_same_rows(app, tree, session):
    p = people(tree)
    project = make_project(tree)
    other = make_project(tree, code="ZD-02", name="卒中中心")
    spend(project, p["ma"], "A01", "10.10", "R1", day=date(YEAR, 1, 5))
    spend(project, p["ma"], "B01", "20.00", "R2", day=date(YEAR, 3, 9))
    spend(other, p["ma"], "A02", "7.25", "R3", day=date(YEAR, 2, 28))
    for category in ("", "equipment", "training", "travel"):
        params = Params(date(YEAR, 1, 1), date(YEAR, 3, 31), None, None, {"category_filter": category})
        assert engine.whole_months(params) == 3
        rolled = engine.statement(SPENDING, params, None)
        assert "budget_spending_months" in str(rolled)
        raw = engine.restrict(SPENDING, SPENDING.query(params), params, None)
        assert [tuple(r) for r in db.session.execute(rolled)] == [tuple(r) for r in db.session.execute(raw)]
    for user in (p["ma"], p["head"], p["ohead"]):  # the same scope through either statement
        params = Params(date(YEAR, 1, 1), date(YEAR, 3, 31), None, None, {"category_filter": ""})
        rolled = [tuple(r) for r in db.session.execute(engine.statement(SPENDING, params, user))]
        raw = [tuple(r) for r in db.session.execute(
            engine.restrict(SPENDING, SPENDING.query(params), params, user))]
        assert rolled == raw
    assert [tuple(r) for r in db.session.execute(engine.statement(
        SPENDING, Params(date(YEAR, 1, 1), date(YEAR, 3, 31), None, None, {"category_filter": ""}), p["ohead"]))] == []


def test_the_report_allows_five_years_and_refuses_more_in_chinese(client, tree):
    people(tree)
    make_project(tree, start=START, end=END)
    db.session.commit()
    client.login("yiwu")
    ok = client.get(f"/reports/budget_spending?date_from={YEAR - 5}-01-01&date_to={YEAR - 1}-12-31")
    assert ok.status_code == 200
    too_long = client.get(f"/reports/budget_spending?date_from={YEAR - 6}-01-01&date_to={YEAR - 1}-12-31")
    assert too_long.status_code == 400 and "日期范围最长五年" in text_of(too_long)


def test_rebuild_summaries_recomputes_the_budget_summary(app, tree, session, monkeypatch):
    import cli

    p = people(tree)
    project = make_project(tree)
    spend(project, p["ma"], "A01", "10.10", "C1", day=date(YEAR, 5, 5))
    db.session.commit()
    expected = held()
    db.session.execute(SpendingMonth.__table__.delete())
    db.session.commit()
    monkeypatch.setattr(cli, "_app", lambda: app)
    result = CliRunner().invoke(cli.cli, ["rebuild-summaries", "--month", f"{YEAR}-05"])
    assert result.exit_code == 0, result.output
    assert "项目预算" in result.output
    assert held() == expected
    result = CliRunner().invoke(cli.cli, ["rebuild-summaries"])
    assert result.exit_code == 0, result.output
    assert held() == expected


def test_the_summary_is_read_by_its_keys_not_the_expenditures(app, tree, session):
    """PostgreSQL's plan (sequential scans priced out as on five years): the report reads the month index, a page
    of the dashboard (per row) and a project's lines read the summary's key; none of them reads budget_expenditures."""
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the planner's choice of index is PostgreSQL's")
    from portal.budget.execution import queries
    from tests.integration.test_scale_queries import plan_of

    p = people(tree)
    project = make_project(tree)
    spend(project, p["ma"], "A01", "1.00", "P1", day=date(YEAR, 2, 2))
    params = Params(date(YEAR - 5, 1, 1), date(YEAR - 1, 12, 31), None, None, {"category_filter": ""})
    report = plan_of(engine.statement(SPENDING, params, p["ma"]))
    assert "ix_budget_spending_months_month" in report and "budget_expenditures" not in report
    page = plan_of(select(SpendingMonth.project_id).where(SpendingMonth.project_id.in_([project.id, 7])))
    assert "pk_budget_spending_months" in page
    dashboard = plan_of(queries.dashboard_query(p["ma"].principal, with_spending=False))
    assert "budget_expenditures" not in dashboard and "pk_budget_spending_months" in dashboard
    assert "Seq Scan on budget_spending_months" not in dashboard
    lines = plan_of(select(SpendingMonth.line_id).where(SpendingMonth.project_id == project.id))
    assert "pk_budget_spending_months" in lines
