"""The ledger's monthly summary (ledger_months): kept current by the writes, equal to the ledger, rebuildable,
and the service reports read it for whole months with the same numbers as the ledger itself."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from portal.casemgmt import reports as cm_reports
from portal.casemgmt.kpis import reports as kpi_reports
from portal.casemgmt.ledger import services as ledger
from portal.casemgmt.ledger import summary
from portal.casemgmt.models import (
    LedgerEntry,
    LedgerMonth,
    LedgerPatientMonths,
    LedgerServedMonth,
    LedgerServedPatients,
)
from portal.extensions import db
from portal.reports import engine, registry
from portal.reports.params import Params
from tests.conftest import text_of
from tests.integration.test_casemgmt_ledger import serve, world  # noqa: F401 (the fixture)

START = date(2026, 8, 1)
REPORTS = [*(report for _, report in cm_reports.MONTHLY), kpi_reports.SERVED, kpi_reports.WORKLOAD]
KPI_CODES = ("cm_kpi_served", "cm_kpi_workload")


def snapshot() -> dict:
    """Both summaries: counts per month and key, and each patient's served months per block and key."""
    out = {}
    for r in db.session.execute(select(LedgerMonth)).scalars():
        out[tuple(getattr(r, k) for k in summary.KEY)] = (r.services, r.reached, r.not_reached, r.declined)
    for r in db.session.execute(select(LedgerPatientMonths)).scalars():
        out[tuple(getattr(r, k) for k in summary.PATIENT_KEY)] = r.months
    for r in db.session.execute(select(LedgerServedMonth)).scalars():
        out[(r.month, "served")] = r.patients
    for r in db.session.execute(select(LedgerServedPatients)).scalars():
        out[(r.block, r.patient_id, "served")] = r.months
    return out


def served_in_ledger() -> dict:
    """Distinct patients per month, counted from the ledger rows themselves."""
    patients: dict[date, set] = {}
    for e in db.session.scalars(select(LedgerEntry)):
        patients.setdefault(e.service_date.replace(day=1), set()).add(e.patient_id)
    return {month: len(ids) for month, ids in patients.items()}


def served_kept() -> dict:
    return {k[0]: v for k, v in snapshot().items() if k[1:] == ("served",)}


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
    assert kept and sum(v[0] for k, v in kept.items() if len(k) == 6) == db.session.query(LedgerEntry).count()
    assert served_kept() == served_in_ledger() and len(served_kept()) == 3
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
    assert all((v[0] if len(k) == 6 else v) > 0 for k, v in kept.items())  # emptied rows are gone
    assert served_kept() == served_in_ledger()
    assert kept == rebuilt()


@pytest.mark.parametrize("period", PERIODS)
def test_every_service_report_gives_the_ledgers_numbers_from_the_summary(session, world, period):  # noqa: F811
    fill(world)
    for report in REPORTS:
        if report.code in KPI_CODES and ("task_type" in period or "source" in period):
            continue  # not among its filters
        if "task_type" in period and report is cm_reports.BY_TYPE:
            continue
        params = Params.parse(report, period)
        if engine.whole_months(params) >= 2:  # the summary answers, not the ledger
            read = str(engine.statement(report, params, None))
            assert "ledger_entries" not in read and ("ledger_summary" in read or "ledger_months" in read)
        every_month = dataclasses.replace(report, rollup=dataclasses.replace(report.rollup, min_months=1))
        for user in (None, world.li, world.boss):
            expected = engine.fetch(raw(report), params, user)
            found = engine.fetch(report, params, user)
            assert found == expected, (report.code, user)
            assert [type(v) for row in found[0] for v in row.values()] == [
                type(v) for row in expected[0] for v in row.values()]  # 5, not Decimal("5")
            assert engine.fetch(every_month, params, user) == expected, (report.code, user)


@pytest.mark.parametrize("over", ["", "1"])
def test_the_workload_kpi_over_months_reads_the_summaries_with_the_ledgers_answer(session, world, app, over):  # noqa: F811
    """Patients and services per case manager over a long period: per manager from the summaries, not the ledger
    once per user; the same rows (also with the over-norm filter) as the ledger itself."""
    fill(world)
    app.config["CASELOAD_NORM"], norm = 1, app.config["CASELOAD_NORM"]  # some managers over it
    try:
        for period in ({"date_from": "2026-08-01", "date_to": "2026-10-31"},
                       {"date_from": "2026-09-01", "date_to": "2026-11-30"},
                       {"date_from": "2021-12-01", "date_to": "2026-11-30"}):
            params = Params.parse(kpi_reports.WORKLOAD, {**period, "over": over})
            stmt = str(engine.statement(kpi_reports.WORKLOAD, params, None))
            assert "ledger_entries" not in stmt and "ledger_months" in stmt
            expected = engine.fetch(raw(kpi_reports.WORKLOAD), params, None)
            assert engine.fetch(kpi_reports.WORKLOAD, params, None) == expected, period
            assert engine.fetch(kpi_reports.WORKLOAD, params, world.li) == expected  # everyone sees all
        assert any(row["services"] for row in expected[0]) or period["date_from"] < "2026-08-01"
    finally:
        app.config["CASELOAD_NORM"] = norm


def test_the_report_page_shows_the_same_table_from_the_summary_and_the_ledger(client, world, monkeypatch):  # noqa: F811
    fill(world)
    client.login("cm_boss")
    url = "/reports/{}?date_from=2026-08-01&date_to=2026-10-31"
    def page(code: str) -> str:  # the table, without the page's own time of printing (a minute may turn)
        return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "", text_of(client.get(url.format(code))))

    for report in REPORTS:
        summed = page(report.code)
        monkeypatch.setitem(registry.REPORTS, report.code, raw(report))
        assert page(report.code) == summed
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
    db.session.execute(update(LedgerPatientMonths).values(months=LedgerPatientMonths.months.op("|")(1 << 50)))
    db.session.execute(update(LedgerServedMonth).values(patients=LedgerServedMonth.patients + 5))
    db.session.execute(update(LedgerServedPatients).values(months=LedgerServedPatients.months.op("|")(1 << 50)))
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


def test_two_completions_for_one_month_and_manager_at_once_both_count(tmp_path, redis_server):
    import threading

    from portal.casemgmt.models import CareTask
    from portal.core.timeutil import local_today
    from tests import cm_factories as cm
    from tests.conftest import workers
    from tests.factories import make_tree, make_user

    today = local_today()
    with workers(tmp_path, redis_server, "summaryrace", 1) as (app,):
        with app.app_context():
            tree = make_tree()
            ward = cm.make_ward("胸外病区", tree.surgery)
            li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
            make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="赵组长")
            patient = cm.make_patient("张三丰")
            enrolment = cm.enrol(patient, case_manager=li, ward=ward, bed="12床")
            task_ids = []
            for title in ("术后电话随访一", "术后电话随访二"):
                task = CareTask(due_date=today, first_due_date=today, case_manager_id=li.id,
                                patient_id=patient.id, enrolment_id=enrolment.id if enrolment else None,
                                source="plan", task_type="phone_followup", title=title, ward_id=ward.id)
                db.session.add(task)
                db.session.flush()
                task_ids.append(task.id)
            db.session.commit()

        tablets = {"cm_li": app.test_client(), "cm_boss": app.test_client()}
        for login, client in tablets.items():
            client.login(login)
        barrier = threading.Barrier(2)
        answers: dict[str, int] = {}

        def complete_from(login: str, task_id: int) -> None:
            barrier.wait()
            response = tablets[login].submit(f"/casemgmt/tasks/{task_id}/complete",
                                             {"outcome": "reached", "day": today.isoformat()}, htmx=True)
            answers[login] = response.status_code

        threads = [threading.Thread(target=complete_from, args=(login, task_id))
                   for login, task_id in zip(tablets, task_ids, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(answers.values()) == [200, 200], answers
        with app.app_context():
            rows = db.session.scalars(select(LedgerMonth)).all()
            assert [(r.case_manager_id, r.services, r.reached) for r in rows] == [(li.id, 2, 2)]
            assert served_kept() == {today.replace(day=1): 1}  # one patient, served twice at once
            assert snapshot() == rebuilt()
