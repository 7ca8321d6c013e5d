"""The performance indicators on a hand-built month: persons not operation codes, 家庭病床撤床 excluded, an 介入
managed as grade 4, reoperations within 48 hours and 31 days, Ⅰ类切口 丙级; the summary equals the records."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from portal.auth.models import Staff
from portal.extensions import db
from portal.quality import summary
from portal.quality.indicators.definitions import COUNTS, raw_counts
from portal.quality.indicators.reports import INDICATOR_REPORT, INDICATOR_TREND
from portal.quality.models import QualityMonth, Surgery
from portal.reports import engine
from portal.reports.params import Params
from tests import quality_factories as qf
from tests.conftest import text_of
from tests.factories import make_user

NOV = date(2026, 11, 1)


def at(day: int, hour: int = 8, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0)


@pytest.fixture
def hospital(tree):
    qf.make_catalogue()
    surgeon = qf.make_surgeon(tree.surgery, "王刀")
    cardio = qf.make_surgeon(tree.cardiology, "李介入")
    gs, cd = tree.surgery, tree.cardiology
    qf.save(
        discharge_rows=[
            qf.discharge("D1", gs, date(2026, 11, 5)),  # two operations, one person
            qf.discharge("D2", gs, date(2026, 11, 8)),  # grade 4 open surgery, reoperated after 30 h
            qf.discharge("D3", gs, date(2026, 11, 9), day_surgery=True),  # day surgery, elective
            qf.discharge("D4", gs, date(2026, 11, 10)),  # no operation (endoscopy only)
            qf.discharge("D5", gs, date(2026, 11, 11), mode="home_bed"),  # 家庭病床撤床: counted nowhere
            qf.discharge("D6", cd, date(2026, 11, 12)),  # PCI: 介入 managed as grade 4, emergency
            qf.discharge("D7", cd, date(2026, 11, 20)),  # no operation
            qf.discharge("D8", gs, date(2026, 10, 30)),  # October: outside the month
        ],
        surgery_rows=[
            qf.surgery("S1a", "D1", gs, surgeon, "T-LC", at(2), incision="I", healing="A"),
            qf.surgery("S1b", "D1", gs, surgeon, "T-HER", at(3), incision="I", healing="C"),
            qf.surgery("S2", "D2", gs, surgeon, "T-GAS", at(4), ended_at=at(4, 12), incision="II"),
            qf.surgery("S3", "D3", gs, surgeon, "T-HER", at(9), incision="I", healing="A"),
            qf.surgery("S4", "D4", gs, surgeon, "T-EGD", at(9)),
            qf.surgery("S5", "D5", gs, surgeon, "T-GAS", at(10)),
            qf.surgery("S6", "D6", cd, cardio, "T-PCI", at(11), urgency="emergency"),
            qf.surgery("S8", "D8", gs, surgeon, "T-GAS", at(28, month=10)),
        ],
        event_rows={
            "reoperation": [{"surgery_record_id": "S2", "event_date": date(2026, 11, 5),
                             "reoperated_at": at(5, 18), "name": "剖腹探查止血"},  # 30 h after the end
                            {"surgery_record_id": "S1a", "event_date": date(2026, 11, 4),
                             "interval_hours": 60, "name": "再次手术"}],  # 60 h: within 31 days only
            "complication": [{"surgery_record_id": "S1b", "event_date": date(2026, 11, 4), "name": "术后出血"},
                             {"surgery_record_id": "S1a", "event_date": date(2026, 11, 4), "name": "切口脂肪液化"},
                             {"mrn": "ZYD6", "operation_date": date(2026, 11, 11), "event_date": date(2026, 11, 12),
                              "name": "穿刺部位血肿"},
                             {"surgery_record_id": "NOPE", "event_date": date(2026, 11, 12), "name": "未关联"}],
        })
    return tree


def hospital_totals(start: date, end: date) -> dict:
    totals = dict.fromkeys(COUNTS, 0)
    for counts in raw_counts(start, end).values():
        for key, value in counts.items():
            totals[key] += value
    return totals


def test_each_indicator_counts_persons_with_the_exclusions(hospital):
    totals = hospital_totals(date(2026, 11, 1), date(2026, 11, 30))
    assert totals == {
        "discharges": 6,  # D1 D2 D3 D4 D6 D7 (D5 家庭病床撤床, D8 October)
        "is_surgical": 4,  # D1 (two codes, one person), D2, D3, D6 (介入); D4 endoscopy is no operation
        "has_mi": 2,  # D1 (laparoscopic), D6 (PCI)
        "has_grade4": 2,  # D2 grade 4, D6 介入 managed as grade 4
        "has_elective": 3,  # D1 D2 D3
        "is_day_elective": 1,  # D3
        "has_reop48": 1,  # D2: 30 hours after the end of the first operation
        "has_reop31": 2,  # D2 and D1 (60 hours)
        "has_complication": 2,  # D1 (two complications, one person), D6 (by 病案号 + date); "NOPE" unmatched
        "has_class1": 2,  # D1, D3
        "has_class1_infected": 1,  # D1 (丙级 on one of its two Ⅰ类 operations)
    }


def _report_totals(params: Params) -> dict:
    _, totals = engine.fetch(INDICATOR_REPORT, params, None)
    return {k: int(totals[k]) for k in COUNTS}


def _by_department(stmt) -> dict:
    return {r["department_id"]: {k: int(r[k]) for k in COUNTS} for r in db.session.execute(stmt).mappings()}


def test_the_report_the_summary_and_the_records_agree(hospital):
    month = Params(date(2026, 11, 1), date(2026, 11, 30), NOV, None, {}, "")
    two = Params(date(2026, 10, 1), date(2026, 11, 30), None, None, {}, "")
    for params in (month, two):
        assert engine.statement(INDICATOR_REPORT, params, None).get_final_froms()[0].name == "quality_months"
        flags = engine.restrict(INDICATOR_REPORT, INDICATOR_REPORT.query(params), params, None)  # the flags
        summary_stmt = INDICATOR_REPORT.rollup.query(params, None)  # the monthly summary
        records = raw_counts(params.start, params.end)  # the surgeries and events themselves
        assert _by_department(flags) == _by_department(summary_stmt) == records
        assert _report_totals(params) == hospital_totals(params.start, params.end)
    trend = INDICATOR_TREND
    by_month = {r["month"]: {k: int(r[k]) for k in COUNTS} for r in engine.fetch(trend, two, None)[0]}
    flags = db.session.execute(engine.restrict(trend, trend.query(two), two, None)).mappings().all()
    assert by_month == {r["month"]: {k: int(r[k]) for k in COUNTS} for r in flags}
    assert by_month[202611] == hospital_totals(month.start, month.end)
    assert by_month[202610] == hospital_totals(date(2026, 10, 1), date(2026, 10, 31))
    part = Params(date(2026, 11, 1), date(2026, 11, 10), None, None, {}, "")  # not whole months: the flags
    assert _report_totals(part) == hospital_totals(part.start, part.end)
    _, totals = engine.fetch(INDICATOR_REPORT, month, None)
    assert float(totals["surgery_rate"]) == pytest.approx(4 / 6)
    assert float(totals["grade4_rate"]) == pytest.approx(2 / 4)
    assert float(totals["reop48_rate"]) == pytest.approx(1 / 4) and float(totals["ssi_rate"]) == pytest.approx(1 / 2)


def test_corrections_and_deletes_keep_the_summary_equal_to_a_rebuild(hospital):
    from portal.quality.surgeries import services as surgeries

    # D4 moves to cardiology; S3 is corrected to emergency; the surgeries of 4 November go (S2: its
    # reoperation waits again as unmatched).
    qf.save(discharge_rows=[qf.discharge("D4", hospital.cardiology, date(2026, 11, 10), day_surgery=True)])
    surgeon = db.session.get(Staff, db.session.scalar(select(Surgery.surgeon_id).where(Surgery.record_id == "S3")))
    qf.save(surgery_rows=[qf.surgery("S3", "D3", hospital.surgery, surgeon, "T-HER", at(9), urgency="emergency",
                                     incision="I", healing="A")])
    surgeries.delete_period(date(2026, 11, 4), date(2026, 11, 4))
    db.session.commit()
    current = _summary()
    summary.rebuild()
    db.session.commit()
    assert _summary() == current
    totals = hospital_totals(date(2026, 11, 1), date(2026, 11, 30))
    assert totals["has_grade4"] == 1 and totals["has_reop48"] == 0 and totals["has_reop31"] == 1
    assert totals["has_elective"] == 1 and totals["is_day_elective"] == 0
    assert raw_counts(date(2026, 11, 1), date(2026, 11, 30))[hospital.cardiology.id]["discharges"] == 3
    month = Params(date(2026, 11, 1), date(2026, 11, 30), NOV, None, {}, "")
    assert _report_totals(month) == totals
    two = Params(date(2026, 10, 1), date(2026, 11, 30), None, None, {}, "")
    assert _report_totals(two) == hospital_totals(two.start, two.end)


def _summary() -> dict:
    return {(r.month, r.department_id): tuple(getattr(r, k) for k in COUNTS)
            for r in db.session.scalars(select(QualityMonth)) if r.discharges}


def test_rebuild_summaries_command_restores_a_damaged_summary(hospital, app, monkeypatch):
    import cli

    good = _summary()
    db.session.execute(update(QualityMonth).values(is_surgical=QualityMonth.is_surgical + 7))
    db.session.execute(delete(QualityMonth).where(QualityMonth.month == date(2026, 10, 1)))
    db.session.commit()
    assert _summary() != good
    monkeypatch.setattr(cli, "_app", lambda: app)
    result = CliRunner().invoke(cli.cli, ["rebuild-summaries", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "医疗质量月汇总" in result.output
    result = CliRunner().invoke(cli.cli, ["rebuild-summaries"])
    assert result.exit_code == 0, result.output
    assert _summary() == good


def test_dashboard_states_numerator_and_denominator_with_links_and_scopes_the_department_head(hospital, client):
    make_user("qa_ma", ["ma_staff"], hospital.hospital, name="医务科")
    make_user("gs_head", ["dept_head"], hospital.surgery, name="普外主任")
    client.login("qa_ma")
    page = client.get("/quality/indicators?period=2026-11")
    assert page.status_code == 200
    text = text_of(page)
    assert "出院患者手术占比" in text and "66.7%" in text and "分子：手术/介入出院人数" in text
    html = page.get_data(as_text=True)
    assert "/reports/quality_indicators/rows?" in html and "column=is_surgical" in html
    rows = client.get("/reports/quality_indicators/rows?month=2026-11&column=has_grade4")
    assert rows.status_code == 200 and "D2" in text_of(rows) and "D6" in text_of(rows)
    assert "ZYD2" not in text_of(rows)  # 病案号 masked
    quarter = client.get("/quality/indicators?period=2026-Q4")
    assert quarter.status_code == 200 and "2026年第4季度" in text_of(quarter)
    assert client.get("/quality/indicators?period=2026-13").status_code == 400
    assert client.get("/quality/indicators?period=abc").status_code == 400
    export = client.get("/reports/quality_indicators/export?month=2026-11")
    assert export.status_code == 200
    assert "column=is_surgical" in html and "quality_indicators_by_month" in html
    trend = client.get("/reports/quality_indicators_by_month?date_from=2026-10-01&date_to=2026-11-30")
    assert trend.status_code == 200 and "2026年11月" in text_of(trend)
    rows = client.get("/reports/quality_indicators_by_month/rows?date_from=2026-10-01&date_to=2026-11-30"
                      "&column=discharges&k_month=202610")
    assert rows.status_code == 200 and "（0）" not in text_of(rows) and "D8" in text_of(rows)
    client.get("/logout")
    client.login("gs_head")
    mine = text_of(client.get("/quality/indicators?period=2026-11"))
    assert "75.0%" in mine  # 普外科 only: 3 surgical of 4 discharges (D1 D2 D3 D4)
    assert client.get(f"/quality/indicators?period=2026-11&department_id={hospital.cardiology.id}").status_code == 404
    rows = text_of(client.get("/reports/quality_indicators/rows?month=2026-11&column=has_grade4"))
    assert "D2" in rows and "D6" not in rows
    listed = text_of(client.get("/quality/discharges?month=2026-11"))
    assert "D1" in listed and "D7" not in listed
    assert client.get(f"/quality/discharges?month=2026-11&department_id={hospital.cardiology.id}").status_code == 404


def test_lists_are_scoped_and_bad_filters_are_400(hospital, client):
    make_user("qa_ma2", ["ma_staff"], hospital.hospital, name="医务科")
    client.get("/quality/discharges")
    client.login("qa_ma2")
    for url in ("/quality/discharges?month=2026-11", "/quality/surgeries?month=2026-11&grade=4",
                "/quality/events?month=2026-11&status=unmatched", "/quality/discharges/export?month=2026-11",
                "/quality/surgeries/export?month=2026-11", "/quality/events/export?month=2026-11"):
        assert client.get(url).status_code == 200, url
    assert "未关联" in text_of(client.get("/quality/events?month=2026-11&status=unmatched"))
    assert client.htmx_get("/quality/surgeries?month=2026-11").status_code == 200
    for url in ("/quality/discharges?month=2026-99", "/quality/surgeries?grade=9", "/quality/events?kind=x"):
        assert client.get(url).status_code == 400, url


def test_quality_pages_need_a_login_and_the_permission(hospital, client):
    urls = ("/quality/indicators", "/quality/discharges", "/quality/surgeries", "/quality/events",
            "/reports/quality_indicators")
    for url in urls:
        response = client.get(url)
        assert response.status_code in (302, 303) and "/login" in response.headers["Location"], url
    make_user("doc", ["clinician"], hospital.surgery, name="医生")
    client.login("doc")
    for url in urls:
        assert client.get(url).status_code in (403, 404), url
    assert client.submit("/quality/events/1/link", {"surgery_record_id": "S1"}).status_code in (403, 404)


def test_the_dashboard_partial_and_the_periods_it_compares(hospital, client):
    from portal.quality.indicators.queries import parse_period

    assert parse_period("2026-01").before().key == "2025-12" and parse_period("2026-01").year_before().key == "2025-01"
    assert parse_period("2026-Q1").before().key == "2025-Q4" and parse_period("2026-Q3").bounds == (
        date(2026, 7, 1), date(2026, 9, 30))
    assert parse_period("2026").before().key == "2025" and parse_period("", date(2026, 1, 15)).key == "2025-12"
    make_user("qa_ma3", ["ma_staff"], hospital.hospital, name="医务科")
    client.login("qa_ma3")
    part = client.htmx_get(f"/quality/indicators?period=2026-11&department_id={hospital.cardiology.id}")
    assert part.status_code == 200 and "<html" not in part.get_data(as_text=True)
    assert "50.0%" in text_of(part)  # 心内科: D6 of D6, D7 had a 介入
    previous = text_of(client.get("/quality/indicators?period=2026-Q4"))
    assert "2026年第3季度" in previous
