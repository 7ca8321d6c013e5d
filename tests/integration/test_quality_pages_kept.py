"""The indicator dashboard and the discharge and surgery lists kept per worker on the quality generation.

Two app objects on one committed database stand for two worker processes. Once both have kept a page, a discharge
or operation written through one, or a renamed department or surgeon, is on the very next page through the other
(full page and htmx rows); a warm page reads no quality rows; a department head never sees what another head's
request kept.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime

import pytest
from sqlalchemy import event, func, select

from portal.auth.models import Department, Staff
from portal.extensions import db
from portal.quality.models import Discharge
from tests import factories
from tests import quality_factories as qf
from tests.conftest import committed, workers
from tests.integration.test_quality_report_cache import _clients as report_cache_clients
from tests.integration.test_quality_report_cache import _find

DASHBOARD = "/quality/indicators?period=2026-10"
DISCHARGES = "/quality/discharges?month=2026-10"
SURGERIES = "/quality/surgeries?month=2026-10"
HX = {"HX-Request": "true"}
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def pair(tmp_root, redis_server):
    with workers(tmp_root, redis_server, "qualpages") as (one, two):
        with one.app_context():
            tree = factories.make_tree()
            factories.make_user("qp_ma", ["ma_admin", "ma_staff"], tree.hospital, name="医务科页面")
            factories.make_user("qp_surgery", ["dept_head"], tree.surgery, name="普外页面主任")
            factories.make_user("qp_cardio", ["dept_head"], tree.cardiology, name="心内页面主任")
            qf.make_catalogue()
            qf.make_surgeon(tree.surgery, "页面刀")
            qf.make_surgeon(tree.cardiology, "页面介入")
            db.session.commit()
        yield one, two


def _operate(department: str, surgeon: str, code: str = "T-LC") -> str:
    """A discharge of `department` on 2026-10-10 with one operation by `surgeon`; the operation's record id."""
    n = next(_numbers)
    dept, person = _find(Department, department), _find(Staff, surgeon)
    qf.save(discharge_rows=[qf.discharge(f"QP-D{n}", dept, date(2026, 10, 10))],
            surgery_rows=[qf.surgery(f"QP-S{n}", f"QP-D{n}", dept, person, code, datetime(2026, 10, 10, 8, 0))])
    return f"QP-S{n}"


def _clients(apps, login: str = "qp_ma"):
    return report_cache_clients(apps, login)


def _discharges(client, headers=None) -> int:
    """The dashboard's 出院人数 (the first indicator's denominator)."""
    answer = client.get(DASHBOARD, headers=headers or {})
    assert answer.status_code == 200
    found = re.search(r"分母：出院人数</dt>\s*<dd>(?:<a [^>]*>)?([\d,]+)", answer.get_data(as_text=True))
    return int(found.group(1).replace(",", ""))


def _page(client, url: str, headers=None) -> str:
    answer = client.get(url, headers=headers or {})
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_the_dashboard_shows_a_discharge_written_through_the_other_worker(pair):
    one, _ = pair
    first, second = _clients(pair)
    for headers in (None, HX):
        before = [_discharges(c, headers) for c in (first, second, first, second)]
        assert len(set(before)) == 1
        committed(one, lambda: _operate("普外科", "页面刀"))
        assert [_discharges(c, headers) for c in (second, first, second)] == [before[0] + 1] * 3


def test_the_lists_show_a_new_record_and_a_renamed_department_through_the_other_worker(pair):
    one, _ = pair
    first, second = _clients(pair)
    for client in (first, second):
        for url in (DISCHARGES, SURGERIES):
            _page(client, url), _page(client, url, HX)
    record = {}
    committed(one, lambda: record.setdefault("id", _operate("心内科", "页面介入", code="T-PCI")))
    for client in (second, first):
        assert record["id"] in _page(client, SURGERIES) and record["id"] in _page(client, SURGERIES, HX)
        discharge = record["id"].replace("QP-S", "QP-D")
        assert discharge in _page(client, DISCHARGES) and discharge in _page(client, DISCHARGES, HX)

    def rename():
        _find(Department, "心内科").name = "心血管内科"
        _find(Staff, "页面介入").name = "改名介入"

    committed(one, rename)
    for client in (second, first):
        surgeries, discharges = _page(client, SURGERIES, HX), _page(client, DISCHARGES)
        assert "改名介入" in surgeries and "页面介入" not in surgeries
        assert "心血管内科" in discharges

    def restore():
        _find(Department, "心血管内科").name = "心内科"
        _find(Staff, "改名介入").name = "页面介入"

    committed(one, restore)


def test_the_htmx_rows_carry_the_count_out_of_band_and_the_page_does_not(pair):
    (client,) = _clients(pair[:1])
    for _ in range(2):
        assert 'hx-swap-oob="true"' not in _page(client, DISCHARGES)
        assert 'hx-swap-oob="true"' in _page(client, DISCHARGES, HX)


def test_a_warm_page_reads_no_quality_rows(pair):
    _, two = pair
    (client,) = _clients([two])
    seen = []
    with two.app_context():
        engine = db.engine

    def log(conn, cursor, statement, *_):
        seen.append(statement)

    for url in (DASHBOARD, DISCHARGES, SURGERIES):
        client.get(url)
        seen.clear()
        event.listen(engine, "before_cursor_execute", log)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", log)
        assert not [s for s in seen if re.search(r"FROM quality_(?!generation)", s)], (url, seen)


def test_a_department_heads_kept_page_is_never_shown_to_another_head(pair):
    one, _ = pair
    records = {}
    committed(one, lambda: records.update(surgery=_operate("普外科", "页面刀"),
                                          cardio=_operate("心内科", "页面介入", code="T-PCI")))
    (surgery,) = _clients(pair[:1], "qp_surgery")
    (cardio,) = _clients(pair[:1], "qp_cardio")
    seen = {}
    for _ in range(2):
        for name, client, own, other in (("surgery", surgery, "surgery", "cardio"),
                                         ("cardio", cardio, "cardio", "surgery")):
            page = _page(client, SURGERIES)
            assert records[own] in page and records[other] not in page
            seen.setdefault(name, set()).add(_discharges(client))
    assert all(len(values) == 1 for values in seen.values())
    with one.app_context():
        counts = {name: db.session.scalar(select(func.count()).select_from(Discharge).where(
            Discharge.department_id == _find(Department, dept).id)) for name, dept in (("surgery", "普外科"),
                                                                                      ("cardio", "心内科"))}
    assert seen == {name: {count} for name, count in counts.items()}
