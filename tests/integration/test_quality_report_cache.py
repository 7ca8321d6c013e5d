"""Quality reports kept per worker (report engine's ResultCache on the quality generation).

Two app objects on one committed database stand for two worker processes. Once both have kept a report, a new
operation, discharge or event, or a renamed department or surgeon, written through one, is on the very next page
through the other (whole months read the summaries, a part of a month the records); a warm page reads no rows; a
department head never sees what another head's request kept; every table the reports read moves the generation.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.sql import visitors

from portal.auth.models import Department, Staff
from portal.extensions import db
from portal.quality.models import OUTCOME_WATCHED_TABLES
from portal.reports import registry
from portal.reports.params import Params
from tests import factories
from tests import quality_factories as qf
from tests.conftest import committed, workers

MONTH = "month=2026-10"
PART = "date_from=2026-10-03&date_to=2026-10-20"  # not whole months: the records, not the summaries
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def pair(tmp_root, redis_server):
    with workers(tmp_root, redis_server, "qualcache") as (one, two):
        with one.app_context():
            tree = factories.make_tree()
            factories.make_user("qc_ma", ["ma_admin", "ma_staff"], tree.hospital, name="医务科质控")
            factories.make_user("qc_surgery", ["dept_head"], tree.surgery, name="普外质控主任")
            factories.make_user("qc_cardio", ["dept_head"], tree.cardiology, name="心内质控主任")
            qf.make_catalogue()
            qf.make_surgeon(tree.surgery, "缓存刀")
            qf.make_surgeon(tree.cardiology, "缓存介入")
            db.session.commit()
        yield one, two


def _find(model, name: str):
    return db.session.scalar(select(model).where(model.name == name))


def _operate(department: str, surgeon: str, day: int = 10, code: str = "T-LC", complication: bool = False) -> None:
    """A discharge of `department` with one operation by `surgeon` on 2026-10-`day` (and a complication)."""
    n = next(_numbers)
    dept, person = _find(Department, department), _find(Staff, surgeon)
    when = datetime(2026, 10, day, 8, 0)
    qf.save(discharge_rows=[qf.discharge(f"QC-D{n}", dept, date(2026, 10, day))],
            surgery_rows=[qf.surgery(f"QC-S{n}", f"QC-D{n}", dept, person, code, when)],
            event_rows={"complication": [{"surgery_record_id": f"QC-S{n}", "event_date": date(2026, 10, day),
                                          "name": "术后出血"}]} if complication else None)


def _table(body: str, dimension: str) -> dict[str, dict[str, str]]:
    """{row label: {header: text}} of a report page's table (`dimension`: the first column's header)."""
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = dict(re.findall(r'<td data-label="([^"]*)"[^>]*>(?:<a[^>]*>)?([^<]*)', row))
        if dimension in cells:
            rows[cells[dimension]] = cells
    return rows


def _figure(client, code: str, period: str, dimension: str, label: str, header: str) -> int:
    answer = client.get(f"/reports/{code}?{period}")
    assert answer.status_code == 200
    text = _table(answer.get_data(as_text=True), dimension).get(label, {}).get(header, "0")
    return int(text.replace(",", "") or 0)


def _clients(pair, login: str = "qc_ma"):
    clients = []
    for app in pair:
        client = app.test_client()
        client.login(login)
        clients.append(client)
    return clients


# (report, first column's header, the row's label, the counted header)
OPERATIONS = [("quality_surgery_by_department", "手术科室", "普外科", "手术例次"),
              ("quality_surgery_by_surgeon", "术者", "缓存刀", "手术例次"),
              ("quality_surgery_by_month", "月份", "2026年10月", "手术例次"),
              ("quality_events_by_department", "手术科室", "普外科", "手术例次（分母）"),
              ("quality_events_by_surgeon", "术者", "缓存刀", "手术例次（分母）"),
              ("quality_indicators", "出院科室", "普外科", "出院人数"),
              ("quality_indicators_by_month", "月份", "2026年10月", "出院人数")]


@pytest.mark.parametrize("period", [MONTH, PART])
def test_a_new_operation_and_discharge_through_one_worker_is_seen_through_the_other(pair, period):
    one, _ = pair
    first, second = _clients(pair)

    def figures():
        # each worker twice: the second round answers from what it kept
        seen = [[_figure(c, *report[:1], period, *report[1:]) for report in OPERATIONS]
                for c in (first, second, first, second)]
        assert all(s == seen[0] for s in seen), seen
        return seen[0]

    before = figures()
    committed(one, lambda: _operate("普外科", "缓存刀"))
    assert figures() == [n + 1 for n in before]


def test_a_discharge_without_an_operation_shows_on_the_next_request(pair):
    """Only the discharges and their summary change: the indicator reports still see it at once."""
    one, _ = pair
    first, second = _clients(pair)
    reports = [r for r in OPERATIONS if r[0].startswith("quality_indicators")]

    def figures():
        seen = [[_figure(c, r[0], period, *r[1:]) for r in reports for period in (MONTH, PART)]
                for c in (first, second, first, second)]
        assert all(s == seen[0] for s in seen), seen
        return seen[0]

    before = figures()
    committed(one, lambda: qf.save(discharge_rows=[qf.discharge(f"QC-D{next(_numbers)}", _find(Department, "普外科"),
                                                                date(2026, 10, 15))]))
    assert figures() == [n + 1 for n in before]


def test_an_event_and_a_new_technology_show_on_the_next_request(pair):
    one, _ = pair
    first, second = _clients(pair)
    event_report = ("quality_events_by_department", "手术科室", "普外科", "并发症")
    capability = ("quality_capability_by_surgeon", "术者", "缓存刀", "开展技术数")
    reports = [event_report, capability]

    def figures():
        return [[_figure(c, r[0], MONTH, *r[1:]) for r in reports] for c in (first, second, first, second)]

    committed(one, lambda: _operate("普外科", "缓存刀"))
    before = figures()
    assert all(b == before[0] for b in before)
    # 胃癌根治术: a technology no other test gives this surgeon
    committed(one, lambda: _operate("普外科", "缓存刀", code="T-GAS", complication=True))
    after = figures()
    assert all(a == after[0] for a in after)
    assert after[0] == [before[0][0] + 1, before[0][1] + 1]


def test_a_renamed_department_and_surgeon_show_on_the_next_request(pair):
    one, _ = pair
    committed(one, lambda: qf.make_surgeon(_find(Department, "骨科"), "改名刀"))
    committed(one, lambda: _operate("骨科", "改名刀", day=12))
    first, second = _clients(pair)
    for client in (first, second, first, second):
        assert "骨科" in _table(client.get(f"/reports/quality_surgery_by_department?{MONTH}").get_data(as_text=True),
                               "手术科室")
        assert "改名刀" in _table(client.get(f"/reports/quality_surgery_by_surgeon?{MONTH}").get_data(as_text=True),
                                "术者")

    def rename():
        _find(Department, "骨科").name = "骨外科"
        _find(Staff, "改名刀").name = "新名刀"

    committed(one, rename)
    for client in (second, first):
        departments = _table(client.get(f"/reports/quality_surgery_by_department?{MONTH}").get_data(as_text=True),
                             "手术科室")
        surgeons = _table(client.get(f"/reports/quality_surgery_by_surgeon?{MONTH}").get_data(as_text=True), "术者")
        assert "骨外科" in departments and "骨科" not in departments
        assert "新名刀" in surgeons and "改名刀" not in surgeons


def test_a_warm_page_reads_no_rows(pair):
    _, two = pair
    (client,) = _clients([two])
    url = f"/reports/quality_surgery_by_surgeon?{MONTH}"
    client.get(url)
    seen = []
    with two.app_context():
        engine = db.engine

    def log(conn, cursor, statement, *_):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", log)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", log)
    assert not [s for s in seen if "quality_surgeon_months" in s or "FROM staff" in s], seen


def test_a_department_heads_kept_result_is_never_shown_to_another_head(pair):
    one, _ = pair
    committed(one, lambda: (_operate("普外科", "缓存刀"), _operate("心内科", "缓存介入", code="T-PCI")))
    (surgery,) = _clients(pair[:1], "qc_surgery")
    (cardio,) = _clients(pair[:1], "qc_cardio")
    for _ in range(2):
        for client, own, other in ((surgery, "普外科", "心内科"), (cardio, "心内科", "普外科")):
            rows = _table(client.get(f"/reports/quality_surgery_by_department?{MONTH}").get_data(as_text=True),
                          "手术科室")
            assert own in rows and other not in rows


def _tables(stmt) -> set[str]:
    return {element.name for element in visitors.iterate(stmt, {"column_collections": False})
            if getattr(element, "__visit_name__", None) == "table"}


def test_every_table_a_quality_report_reads_moves_the_quality_generation(pair):
    """What a kept result depends on: each report's queries (records and summaries, filtered or not) and the
    labels (departments, staff) must be watched, and each watched table has the trigger."""
    one, _ = pair
    month = Params(date(2026, 10, 1), date(2026, 10, 31), date(2026, 10, 1), None, {}, "")
    filtered = Params(month.start, month.end, month.month, None, {"grade": "3"}, "")
    read = {"departments", "staff"}
    with one.app_context():
        quality = [r for r in registry.all_reports() if r.code.startswith("quality_")]
        assert len(quality) == 10 and all(r.cache is not None for r in quality)
        for report in quality:
            read |= _tables(report.query(month))
            if report.rollup is not None:
                for params in (month, filtered):
                    read |= _tables(report.rollup.query(params, None))
                    if report.rollup.totals is not None and report.rollup.totals(params, None) is not None:
                        read |= _tables(report.rollup.totals(params, None))
        assert read - {"quality_generation"} <= set(OUTCOME_WATCHED_TABLES), read - set(OUTCOME_WATCHED_TABLES)
        names = _trigger_names()
        for table in OUTCOME_WATCHED_TABLES:
            assert f"trg_{table}_qualgen" in names, table


def _trigger_names() -> str:
    if db.engine.dialect.name == "postgresql":
        return " ".join(db.session.execute(text("SELECT tgname FROM pg_trigger")).scalars())
    return " ".join(db.session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
