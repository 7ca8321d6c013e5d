"""The ledger's monthly summary (ledger_months): kept current by the writes, equal to the ledger, rebuildable,
and the service reports read it for whole months with the same numbers as the ledger itself."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from portal.casemgmt import reports as cm_reports
from portal.casemgmt.ledger import services as ledger
from portal.casemgmt.ledger import summary
from portal.casemgmt.models import LedgerEntry, LedgerMonth
from portal.extensions import db
from portal.reports import engine, registry
from portal.reports.params import Params
from tests.conftest import text_of
from tests.integration.test_casemgmt_ledger import serve, world  # noqa: F401 (the fixture)

START = date(2026, 8, 1)
REPORTS = [report for _, report in cm_reports.MONTHLY]


def snapshot() -> dict:
    rows = db.session.execute(select(LedgerMonth)).scalars().all()
    return {tuple(getattr(r, k) for k in summary.KEY): (r.services, r.reached, r.not_reached, r.declined)
            for r in rows}


def rebuilt() -> dict:
    """What the summary should hold: recomputed from the ledger (then left in place)."""
    summary.rebuild()
    return snapshot()


def fill(world):  # noqa: F811
    a, b, c = world.li_patients
    d, e = world.wang_patients
    plan = [(a, world.li, 0, "reached", "phone_followup"), (a, world.li, 3, "not_reached", "phone_followup"),
            (a, world.li, 3, "reached", "phone_followup"), (b, world.li, 20, "declined", "education"),
            (c, world.li, 35, "reached", "revisit_reminder"), (d, world.wang, 36, "reached", "phone_followup"),
            (e, world.wang, 40, "not_reached", "accompany_discharge"), (d, world.wang, 70, "reached", "education"),
            (a, world.li, 75, "declined", "phone_followup")]
    for patient, manager, offset, outcome, task_type in plan:
        serve(patient, manager, START + timedelta(days=offset), outcome=outcome, task_type=task_type)
    ledger.record_adhoc_service(b, world.li, service_date=START + timedelta(days=40), task_type="education",
                                outcome="reached", today=START + timedelta(days=41))
    ledger.record_adhoc_service(b, world.li, service_date=START + timedelta(days=41), task_type="education",
                                outcome="declined", today=START + timedelta(days=41))
    db.session.commit()


def raw(report):
    return dataclasses.replace(report, rollup=None)


PERIODS = [{"month": "2026-08"}, {"month": "2026-09"}, {"date_from": "2026-08-01", "date_to": "2026-10-31"},
           {"date_from": "2026-08-01", "date_to": "2026-10-31", "source": "adhoc"},
           {"date_from": "2026-08-01", "date_to": "2026-10-31", "source": "task"},
           {"date_from": "2026-09-01", "date_to": "2026-10-31", "task_type": "education"},
           {"date_from": "2026-08-04", "date_to": "2026-09-30"}]  # not whole months: the ledger itself


def test_the_summary_equals_the_ledger_after_completions_corrections_and_removals(session, world):  # noqa: F811
    fill(world)
    kept = snapshot()
    assert kept and sum(v[0] for v in kept.values()) == db.session.query(LedgerEntry).count()
    assert kept == rebuilt()

    # A correction (the row moves to another outcome and month) and a removal, counted out and in again.
    entry = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).first()
    summary.count_entry(entry, -1)
    entry.outcome, entry.service_date = "declined", date(2026, 10, 2)
    summary.count_entry(entry)
    gone = db.session.scalars(select(LedgerEntry).where(LedgerEntry.task_id.is_(None))).first()
    summary.count_entry(gone, -1)
    db.session.delete(gone)
    db.session.flush()
    kept = snapshot()
    assert all(v[0] > 0 for v in kept.values())  # a row counted to zero is gone, so distinct patients stay exact
    assert kept == rebuilt()


@pytest.mark.parametrize("period", PERIODS)
def test_every_service_report_gives_the_ledgers_numbers_from_the_summary(session, world, period):  # noqa: F811
    fill(world)
    for report in REPORTS:
        if "task_type" in period and report is cm_reports.BY_TYPE:
            continue
        params = Params.parse(report, period)
        for user in (None, world.li, world.boss):
            assert engine.fetch(report, params, user) == engine.fetch(raw(report), params, user), (report.code, user)


def test_the_report_page_shows_the_same_table_from_the_summary_and_the_ledger(client, world, monkeypatch):  # noqa: F811
    fill(world)
    client.login("cm_boss")
    url = "/reports/{}?date_from=2026-08-01&date_to=2026-10-31"
    for report in REPORTS:
        summed = text_of(client.get(url.format(report.code)))
        monkeypatch.setitem(registry.REPORTS, report.code, raw(report))
        assert text_of(client.get(url.format(report.code))) == summed
        assert "服务人次" in summed


def test_five_years_are_allowed_where_a_summary_answers(client, world):  # noqa: F811
    client.login("cm_boss")
    response = client.get("/reports/cm_services_by_type?date_from=2021-11-01&date_to=2026-10-31")
    assert response.status_code == 200, text_of(response)[:300]
    response = client.get("/reports/cm_services_by_type?date_from=2020-01-01&date_to=2026-10-31")
    assert response.status_code == 400 and "最长五年" in text_of(response)


def test_the_rebuild_command_restores_a_damaged_summary(app, session, world, monkeypatch):  # noqa: F811
    import cli

    fill(world)
    good = snapshot()
    db.session.execute(update(LedgerMonth).values(services=LedgerMonth.services + 5))
    db.session.execute(delete(LedgerMonth).where(LedgerMonth.month == date(2026, 9, 1)))
    db.session.commit()
    assert snapshot() != good
    monkeypatch.setattr(cli, "_app", lambda: app)
    runner = CliRunner()
    result = runner.invoke(cli.cli, ["rebuild-summaries", "--month", "2026-09"])
    assert result.exit_code == 0, result.output
    assert "已重算" in result.output
    assert {k: v for k, v in snapshot().items() if k[0] == date(2026, 9, 1)} == {
        k: v for k, v in good.items() if k[0] == date(2026, 9, 1)}
    result = runner.invoke(cli.cli, ["rebuild-summaries"])
    assert result.exit_code == 0, result.output
    assert snapshot() == good
    result = runner.invoke(cli.cli, ["rebuild-summaries", "--month", "2026-13"])
    assert result.exit_code != 0 and "不是月份" in result.output
