"""The surgery report suite on a hand-built month: operations (not persons) per department, surgeon and month,
event rates per 100 operations, the monitoring figures against the catalogue as of the period's end; the
surgery summary equals the records after every write; drill-downs list what was counted; scoping."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from portal.catalogue.models import Technology
from portal.catalogue.models.technologies import TechnologyRevision
from portal.catalogue.technologies.services import state_of
from portal.extensions import db
from portal.quality.models import SURGERY_MEASURES, SurgeonMonth, SurgeryMonth
from portal.quality.reports import summary as surgery_months
from portal.quality.reports import surgeries as reports
from portal.reports import engine
from portal.reports.params import Params
from tests import quality_factories as qf
from tests.conftest import text_of
from tests.factories import make_user

NOV = Params(date(2026, 11, 1), date(2026, 11, 30), date(2026, 11, 1), None, {}, "")
DEC = Params(date(2026, 12, 1), date(2026, 12, 31), date(2026, 12, 1), None, {}, "")
TWO = Params(date(2026, 10, 1), date(2026, 11, 30), None, None, {}, "")


def at(day: int, hour: int = 8, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0)


def _revision(tech, number, when, **changes):
    state = {**state_of(tech, []), **changes}
    db.session.add(TechnologyRevision(technology_id=tech.id, revision=number, valid_from=when, data=state))


@pytest.fixture
def hospital(tree):
    catalogue = qf.make_catalogue()
    unused = Technology(code="T-UNUSED", national_code="99.0000", name="从未开展的三级手术", category="surgery",
                        grade=3)
    db.session.add(unused)
    db.session.flush()
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    for tech in (*catalogue.values(), unused):
        _revision(tech, 1, jan)
    # 胃癌根治术 (the only grade 4 entry) is disabled on 5 December: listed as of November, not as of December.
    _revision(catalogue["T-GAS"], 2, datetime(2026, 12, 5, tzinfo=UTC), status="disabled")
    db.session.commit()
    surgeon = qf.make_surgeon(tree.surgery, "王刀")
    second = qf.make_surgeon(tree.surgery, "赵二刀")
    cardio = qf.make_surgeon(tree.cardiology, "李介入")
    gs, cd = tree.surgery, tree.cardiology
    qf.save(
        discharge_rows=[qf.discharge("D1", gs, date(2026, 11, 5)), qf.discharge("D2", gs, date(2026, 11, 8)),
                        qf.discharge("D3", gs, date(2026, 11, 9), day_surgery=True),
                        qf.discharge("D6", cd, date(2026, 11, 12)), qf.discharge("D8", gs, date(2026, 10, 30))],
        surgery_rows=[
            qf.surgery("S1a", "D1", gs, surgeon, "T-LC", at(2), incision="I", healing="A"),  # 3, MI
            qf.surgery("S1b", "D1", gs, surgeon, "T-HER", at(3), incision="I", healing="C"),  # 2
            qf.surgery("S2", "D2", gs, second, "T-GAS", at(4), ended_at=at(4, 12), urgency="limited"),  # 4
            qf.surgery("S3", "D3", gs, surgeon, "T-HER", at(9), day_surgery=True),  # 2, day
            qf.surgery("S4", "D3", gs, surgeon, "T-EGD", at(9, 10)),  # 1, 操作 (endoscopy)
            qf.surgery("S6", "D6", cd, cardio, "T-PCI", at(11), urgency="emergency"),  # 3, 介入, MI
            qf.surgery("S8", "D8", gs, surgeon, "T-GAS", at(28, month=10)),  # October
        ],
        event_rows={
            "reoperation": [{"surgery_record_id": "S2", "event_date": date(2026, 11, 5),
                             "reoperated_at": at(5, 18), "name": "剖腹探查止血"},  # 30 h
                            {"surgery_record_id": "S1a", "event_date": date(2026, 11, 4),
                             "interval_hours": 60, "name": "再次手术"}],  # 60 h
            "complication": [{"surgery_record_id": "S1b", "event_date": date(2026, 11, 4), "name": "术后出血"},
                             {"surgery_record_id": "S1a", "event_date": date(2026, 11, 4), "name": "脂肪液化"},
                             {"surgery_record_id": "S1a", "event_date": date(2026, 11, 5), "name": "再出血"},
                             {"surgery_record_id": "S6", "event_date": date(2026, 11, 12), "name": "血肿"}],
        })
    tree.surgeons = {"wang": surgeon, "zhao": second, "li": cardio}
    return tree


def _rows(report, params, key):
    rows, totals = engine.fetch(report, params, None)
    return {r[key]: r for r in rows}, totals


def test_operations_per_department_surgeon_and_month(hospital):
    gs, cd = hospital.surgery.id, hospital.cardiology.id
    rows, totals = _rows(reports.DEPARTMENT_OPERATIONS, NOV, "department_id")
    assert {k: int(rows[gs][k]) for k in reports.MEASURES} == {
        "surgeries": 5, "grade1": 1, "grade2": 2, "grade3": 1, "grade4": 1, "surgery": 4, "interventional": 0,
        "mi": 1, "emergency": 0, "elective": 4, "limited": 1, "day": 1}
    assert int(rows[cd]["surgeries"]) == 1 and int(rows[cd]["interventional"]) == 1 and int(rows[cd]["emergency"]) == 1
    assert int(totals["surgeries"]) == 6 and int(totals["grade3"]) == 2
    by_surgeon, _ = _rows(reports.SURGEON_OPERATIONS, NOV, "surgeon_id")
    s = hospital.surgeons
    assert {k: int(v["surgeries"]) for k, v in by_surgeon.items()} == {s["wang"].id: 4, s["zhao"].id: 1,
                                                                       s["li"].id: 1}
    by_month, totals = _rows(reports.MONTHLY_OPERATIONS, TWO, "month")
    assert {k: int(v["surgeries"]) for k, v in by_month.items()} == {202610: 1, 202611: 6}
    grade4 = Params(NOV.start, NOV.end, NOV.month, None, {"grade": "4"}, "")
    rows, totals = _rows(reports.DEPARTMENT_OPERATIONS, grade4, "department_id")
    assert int(totals["surgeries"]) == 1 and set(rows) == {gs}
    mi = Params(NOV.start, NOV.end, NOV.month, None, {"mi": "1", "urgency": "emergency"}, "")
    assert int(_rows(reports.DEPARTMENT_OPERATIONS, mi, "department_id")[1]["surgeries"]) == 1


def _summary_rows():
    out = {}
    for model in (SurgeryMonth, SurgeonMonth):
        keys = [c.name for c in model.__table__.primary_key.columns]
        out[model.__tablename__] = {tuple(getattr(r, k) for k in keys): tuple(getattr(r, m) for m in SURGERY_MEASURES)
                                    for r in db.session.scalars(select(model)) if r.surgeries}
    return out


def _raw_rows():
    return {model.__tablename__: {k: v for k, v in surgery_months.counts(model).items() if v[0]}
            for model in (SurgeryMonth, SurgeonMonth)}


@pytest.mark.parametrize("report", [reports.DEPARTMENT_OPERATIONS, reports.SURGEON_OPERATIONS,
                                    reports.MONTHLY_OPERATIONS])
def test_every_rollup_equals_the_records(hospital, report):
    for options in ({}, {"grade": "2"}, {"mi": "0"}, {"urgency": "elective", "kind": "surgery"}):
        for period in (NOV, TWO):
            params = Params(period.start, period.end, period.month, None, options, "")
            if not options:
                assert engine.statement(report, params, None).get_final_froms()[0].name in (
                    "quality_surgery_months", "quality_surgeon_months")
            raw = db.session.execute(engine.restrict(report, report.query(params), params, None)).mappings().all()
            rolled = db.session.execute(report.rollup.query(params, None)).mappings().all()
            assert [{k: int(v) for k, v in r.items()} for r in raw] == \
                [{k: int(v) for k, v in r.items()} for r in rolled], (options, period)
            assert raw, options


def test_every_write_keeps_the_surgery_summary_equal_to_the_records(hospital):
    from portal.quality.surgeries import services as surgeries

    assert _summary_rows() == _raw_rows()
    # A correction moves S3 to another surgeon, grade and urgency; a re-import of the same rows changes nothing.
    s = hospital.surgeons
    qf.save(surgery_rows=[qf.surgery("S3", "D3", hospital.surgery, s["zhao"], "T-LC", at(9),
                                     urgency="emergency")])
    qf.save(surgery_rows=[qf.surgery("S3", "D3", hospital.surgery, s["zhao"], "T-LC", at(9),
                                     urgency="emergency")])
    assert _summary_rows() == _raw_rows()
    surgeries.delete_period(date(2026, 11, 4), date(2026, 11, 4))
    db.session.commit()
    assert _summary_rows() == _raw_rows()
    assert sum(v[0] for v in _summary_rows()["quality_surgery_months"].values()) == 6
    db.session.execute(update(SurgeryMonth).values(surgeries=SurgeryMonth.surgeries + 3))
    surgery_months.rebuild_all()
    db.session.commit()
    assert _summary_rows() == _raw_rows()
    surgery_months.rebuild(date(2026, 11, 1))
    db.session.commit()
    assert _summary_rows() == _raw_rows()


def test_event_rates_per_hundred_operations(hospital):
    gs, cd = hospital.surgery.id, hospital.cardiology.id
    rows, totals = _rows(reports.DEPARTMENT_EVENTS, NOV, "department_id")
    # 普外科: 5 operations; complications on S1a (twice: once) and S1b; reoperations S2 (30 h) and S1a (60 h).
    assert {k: int(rows[gs][k]) for k in ("surgeries", "complication", "reop48", "reop31", "infection", "ssi")} == {
        "surgeries": 5, "complication": 2, "reop48": 1, "reop31": 2, "infection": 0, "ssi": 0}
    assert float(rows[gs]["complication_rate"]) == pytest.approx(2 / 5)
    assert int(rows[cd]["complication"]) == 1
    assert float(totals["complication_rate"]) == pytest.approx(3 / 6)
    by_surgeon, _ = _rows(reports.SURGEON_EVENTS, NOV, "surgeon_id")
    assert int(by_surgeon[hospital.surgeons["zhao"].id]["reop48"]) == 1


def test_monitoring_figures_read_the_catalogue_as_of_the_period_end(hospital):
    rows, _totals = _rows(reports.MONITORING, NOV, "grade")
    # As of 30 November: grade 3 LC, PCI, UNUSED (2 performed); grade 4 GAS (performed by S2).
    assert (int(rows[3]["listed"]), int(rows[3]["performed"])) == (3, 2)
    assert (int(rows[4]["listed"]), int(rows[4]["performed"])) == (1, 1)
    assert float(rows[3]["performed_rate"]) == pytest.approx(2 / 3)
    assert (int(rows[3]["operations"]), int(rows[3]["complicated"])) == (2, 2)  # S1a, S6
    assert (int(rows[4]["operations"]), int(rows[4]["complicated"])) == (1, 0)
    result = engine.run(reports.MONITORING, NOV, None)
    assert reports.MONITORING.note(result) == "四级/三级手术并发症发生率之比：0.00"
    december, _ = _rows(reports.MONITORING, DEC, "grade")
    assert 4 not in december  # disabled on 5 December: not on the catalogue as of 31 December
    assert (int(december[3]["listed"]), int(december[3]["performed"])) == (3, 0)


def test_pages_drill_downs_exports_and_scope(hospital, client):
    make_user("rep_ma", ["ma_staff"], hospital.hospital, name="医务科")
    make_user("rep_head", ["dept_head"], hospital.surgery, name="普外主任")
    client.login("rep_ma")
    codes = ("quality_surgery_by_department", "quality_surgery_by_surgeon", "quality_events_by_department",
             "quality_events_by_surgeon", "quality_core_monitoring")
    for code in codes:
        page = client.get(f"/reports/{code}?month=2026-11")
        assert page.status_code == 200, code
        export = client.get(f"/reports/{code}/export?month=2026-11")
        assert export.status_code == 200, code
    assert client.get("/reports/quality_surgery_by_month?date_from=2026-01-01&date_to=2026-12-31").status_code == 200
    # Drill-down rows are the counted number, 病案号 masked.
    gs = hospital.surgery.id
    rows = client.get(f"/reports/quality_surgery_by_department/rows?month=2026-11&column=grade2&k_department_id={gs}")
    text = text_of(rows)
    assert rows.status_code == 200 and "S1b" in text and "S3" in text and "S4" not in text and "ZYD1" not in text
    rows = text_of(client.get("/reports/quality_events_by_department/rows?month=2026-11&column=complication"))
    assert "S1a" in rows and "S1b" in rows and "S6" in rows and "S2" not in rows
    counted, _ = _rows(reports.DEPARTMENT_OPERATIONS, NOV, "department_id")
    for key in reports.MEASURES:  # every drill-down lists as many surgeries as the cell counts
        url = f"/reports/quality_surgery_by_department/rows?month=2026-11&column={key}&k_department_id={gs}"
        assert f"（{int(counted[gs][key])}）" in text_of(client.get(url)), key
    # The export holds the page's numbers.
    book = load_workbook(io.BytesIO(client.get("/reports/quality_surgery_by_department/export?month=2026-11").data))
    cells = [[c for c in row] for row in book.active.iter_rows(values_only=True)]
    gs_row = next(r for r in cells if r and r[0] == hospital.surgery.name)
    assert gs_row[1] == 5 and gs_row[5] == 1
    monitoring = text_of(client.get("/reports/quality_core_monitoring?month=2026-11"))
    assert "66.7%" in monitoring and "四级/三级手术并发症发生率之比" in monitoring
    client.get("/logout")
    client.login("rep_head")
    mine = text_of(client.get("/reports/quality_surgery_by_department?month=2026-11"))
    assert hospital.surgery.name in mine and hospital.cardiology.name not in mine
    rows = text_of(client.get("/reports/quality_events_by_department/rows?month=2026-11&column=complication"))
    assert "S1a" in rows and "S6" not in rows
    other = client.get(f"/reports/quality_surgery_by_department?month=2026-11&department_id={hospital.cardiology.id}")
    # The registry shows nothing of a department outside the scope (its own rule: an empty table, not a 404).
    assert other.status_code == 200 and "李介入" not in text_of(other) and "该期间没有手术记录" in text_of(other)
    drill = client.get(f"/reports/quality_surgery_by_department/rows?month=2026-11&column=surgeries"
                       f"&k_department_id={hospital.cardiology.id}")
    assert drill.status_code in (200, 404) and "S6" not in text_of(drill)
    # The monitoring figures are hospital-wide: a department head sees no row of them.
    assert "66.7%" not in text_of(client.get("/reports/quality_core_monitoring?month=2026-11"))


def test_technical_capability_counts_distinct_technologies_against_the_catalogue(hospital, client):
    from portal.catalogue.models.technologies import TechnologyDepartment

    gs, cd = hospital.surgery.id, hospital.cardiology.id
    ids = dict(db.session.execute(select(Technology.code, Technology.id)).all())
    for code in ("T-LC", "T-HER", "T-GAS", "T-UNUSED"):
        db.session.add(TechnologyDepartment(technology_id=ids[code], department_id=gs))
    db.session.add(TechnologyDepartment(technology_id=ids["T-PCI"], department_id=cd))
    db.session.commit()
    rows, totals = _rows(reports.DEPARTMENT_CAPABILITY, NOV, "department_id")
    assert {k: int(rows[gs][k]) for k in (*reports.CAPABILITY, "allowed", "listed_performed")} == {
        "technologies": 4, "tech_grade1": 1, "tech_grade2": 1, "tech_grade3": 1, "tech_grade4": 1,
        "tech_surgery": 3, "tech_interventional": 0, "allowed": 4, "listed_performed": 3}
    assert float(rows[gs]["listed_rate"]) == pytest.approx(3 / 4)
    assert (int(rows[cd]["technologies"]), int(rows[cd]["allowed"]), int(rows[cd]["listed_performed"])) == (1, 1, 1)
    assert int(totals["technologies"]) == 5 and int(totals["allowed"]) == 5
    by_surgeon, totals = _rows(reports.SURGEON_CAPABILITY, NOV, "surgeon_id")
    s = hospital.surgeons
    assert {k: int(v["technologies"]) for k, v in by_surgeon.items()} == {s["wang"].id: 3, s["zhao"].id: 1,
                                                                          s["li"].id: 1}
    assert int(totals["technologies"]) == 5
    make_user("cap_ma", ["ma_staff"], hospital.hospital, name="医务科")
    client.login("cap_ma")
    for code in ("quality_capability_by_department", "quality_capability_by_surgeon"):
        assert client.get(f"/reports/{code}?month=2026-11").status_code == 200
        assert client.get(f"/reports/{code}/export?month=2026-11").status_code == 200
    listed = text_of(client.get("/reports/quality_capability_by_department/rows?month=2026-11&column=technologies"
                                f"&k_department_id={gs}"))
    assert all(name in listed for name in ("腹腔镜下胆囊切除术", "腹股沟疝修补术", "胃癌根治术", "胃镜检查"))
    assert "经皮冠状动脉支架置入术" not in listed and "（4）" in listed


def test_the_monthly_schedule_archives_last_month_of_each_report(hospital, app):
    from portal.reports.models import ReportRun
    from portal.reports.services import generate_scheduled

    with app.test_request_context():
        generate_scheduled(date(2026, 12, 6))
        db.session.commit()
    runs = {r.report_code: r for r in db.session.scalars(select(ReportRun).where(ReportRun.period == "2026-11"))}
    for report in (reports.DEPARTMENT_OPERATIONS, reports.SURGEON_OPERATIONS, reports.DEPARTMENT_EVENTS,
                   reports.SURGEON_EVENTS, reports.DEPARTMENT_CAPABILITY, reports.SURGEON_CAPABILITY,
                   reports.MONITORING):
        assert report.code in runs and runs[report.code].content, report.code
    assert runs[reports.DEPARTMENT_OPERATIONS.code].rows == 2
    assert runs[reports.MONITORING.code].rows == 2  # hospital-wide: the system's run holds grades 3 and 4
    assert reports.MONTHLY_OPERATIONS.code not in runs  # a range report: not archived by month


def test_a_row_per_surgeon_is_shown_a_page_at_a_time_with_totals_of_every_row(hospital, client, monkeypatch):
    import dataclasses

    from portal.reports import registry

    assert reports.SURGEON_OPERATIONS.page_size == reports.SURGEON_PAGE
    one = dataclasses.replace(reports.SURGEON_OPERATIONS, page_size=1)  # three surgeons: three pages
    monkeypatch.setitem(registry.REPORTS, one.code, one)
    s = hospital.surgeons
    result = engine.run(one, NOV, None, links=False, page=2)
    assert (result.page.page, result.page.pages, len(result.rows)) == (2, 3, 3)
    assert len(result.grid) == 1 and result.shown[0]["surgeon_id"] == sorted(x.id for x in s.values())[1]
    assert int(result.totals["surgeries"]) == 6  # every row's total, not the page's
    assert len(result.chart_data()["categories"]) == 1
    assert len(engine.run(one, NOV, None, links=False).grid) == 3  # no page (export, archive): every row
    assert engine.run(one, NOV, None, links=False, page=99).page.page == 3  # past the end: the last page
    make_user("page_ma", ["ma_staff"], hospital.hospital, name="医务科")
    client.login("page_ma")
    first = text_of(client.get("/reports/quality_surgery_by_surgeon?month=2026-11"))
    assert "第 1–1 行，共 3 行" in first and "王刀" in first and "赵二刀" not in first
    second = client.get("/reports/quality_surgery_by_surgeon?month=2026-11&page=2", headers={"HX-Request": "true"})
    assert "赵二刀" in text_of(second) and "王刀" not in text_of(second) and "<html" not in second.get_data(True)
    assert "page=3" in second.get_data(True)
    book = load_workbook(io.BytesIO(client.get("/reports/quality_surgery_by_surgeon/export?month=2026-11").data))
    names = {row[0] for row in book.active.iter_rows(values_only=True)}
    assert {"王刀", "赵二刀", "李介入"} <= names


@pytest.mark.parametrize("report", [reports.DEPARTMENT_EVENTS, reports.SURGEON_EVENTS, reports.DEPARTMENT_CAPABILITY,
                                    reports.MONITORING])
def test_rollups_of_the_outcomes_summary_equal_the_records(hospital, report, client):
    import dataclasses

    from portal.catalogue.models.technologies import TechnologyDepartment

    ids = dict(db.session.execute(select(Technology.code, Technology.id)).all())
    for code in ("T-LC", "T-HER", "T-UNUSED"):
        db.session.add(TechnologyDepartment(technology_id=ids[code], department_id=hospital.surgery.id))
    db.session.commit()
    head = make_user("roll_head", ["dept_head"], hospital.surgery, name="普外主任")
    options = [{}] if not report.filters else [{}, {"grade": "3"}, {"kind": "surgery", "mi": "1"}]
    for chosen in options:
        for period in (NOV, TWO, DEC):
            params = Params(period.start, period.end, period.month, None, chosen, "")
            for user in (None, head):
                rolled_stmt = report.rollup.query(params, user)
                if not chosen:
                    assert "outcome_months" in str(rolled_stmt)
                raw = db.session.execute(engine.restrict(report, report.query(params), params, user)).mappings().all()
                rolled = db.session.execute(rolled_stmt).mappings().all()
                assert [{k: int(v or 0) for k, v in r.items()} for r in raw] == \
                    [{k: int(v or 0) for k, v in r.items()} for r in rolled], (chosen, period, user)
            # The totals too ("query" totals are re-aggregated on the summary's rows).
            assert engine.fetch(report, params, None) == engine.fetch(dataclasses.replace(report, rollup=None),
                                                                      params, None)
    # A deleted surgery leaves a summary row of zero operations: no row of zero operations is shown.
    from portal.quality.surgeries import services as surgeries

    surgeries.delete_period(date(2026, 11, 11), date(2026, 11, 11))  # S6, the only cardiology operation
    db.session.commit()
    raw = db.session.execute(engine.restrict(report, report.query(NOV), NOV, None)).mappings().all()
    rolled = db.session.execute(report.rollup.query(NOV, None)).mappings().all()
    assert [{k: int(v or 0) for k, v in r.items()} for r in raw] == [{k: int(v or 0) for k, v in r.items()}
                                                                       for r in rolled]
