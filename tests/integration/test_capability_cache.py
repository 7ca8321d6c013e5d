"""Capability pages and reports kept per worker (report engine's ResultCache, capability/queries.kept).

Two app objects on one committed database stand for two worker processes. Once both have kept a page's parts, a
privilege granted through one is on the very next page through the other; a department head's kept result is
never shown to a head of another department; a kept result is not shown on the next day; a warm page reads no
privilege rows.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, timedelta

import pytest
from sqlalchemy import event, select

from portal.auth.models import Department, Staff
from portal.catalogue.models.technologies import Technology, TechnologyDepartment
from portal.credentials.models.privileges import Privilege
from portal.extensions import db
from tests import factories
from tests.conftest import committed, logged_in, workers

_numbers = itertools.count(1)
REPORT = "/reports/cap_department_privileges"


@pytest.fixture(scope="module")
def pair(tmp_root, redis_server):
    with workers(tmp_root, redis_server, "capcache") as (one, two):
        with one.app_context():
            tree = factories.make_tree()
            factories.make_user("cc_ma", ["ma_admin", "ma_staff"], tree.hospital, name="医务科缓存")
            factories.make_user("cc_cardio", ["dept_head"], tree.cardiology, name="心内缓存主任")
            factories.make_user("cc_surgery", ["dept_head"], tree.surgery, name="普外缓存主任")
            db.session.add(Technology(code="CC-T1", name="缓存技术", category="surgery", grade=2, prerequisites=[]))
            db.session.flush()
            tech = db.session.scalar(select(Technology).where(Technology.code == "CC-T1"))
            db.session.add(TechnologyDepartment(technology_id=tech.id, department_id=tree.cardiology.id))
            db.session.commit()
        yield one, two


def _department(name: str) -> Department:
    return db.session.scalar(select(Department).where(Department.name == name))


def _grant(department: str, *, grade: int = 2, start: date | None = None, end: date | None = None) -> int:
    """A new member of `department` holding a grade privilege (surgery) from `start` to `end`; their id."""
    from portal.core.timeutil import local_today

    today = local_today()
    person = factories.make_staff(f"缓存医生{next(_numbers)}", _department(department))
    db.session.add(Privilege(staff_id=person.id, kind="grade", grade=grade, categories="surgery",
                             can_order=True, can_perform=True, valid_from=start or today - timedelta(days=30),
                             valid_to=end or today + timedelta(days=300), status="active", action="apply",
                             source="manual"))
    db.session.flush()
    return person.id


def _holders(client, department: str) -> int:
    """The 授权人数 of a department on the department report."""
    body = client.get(REPORT).get_data(as_text=True)
    found = re.search(rf"<td[^>]*>{department}</td>\s*<td[^>]*>(?:<a[^>]*>)?([\d,]+)", body)
    return int(found.group(1).replace(",", "")) if found else 0


def _department_page(client, department_id: int) -> str:
    return client.get(f"/credentials/capability/departments?department_id={department_id}").get_data(as_text=True)


def _figure(body: str) -> int:
    """持有有效授权的人数 on the department page."""
    found = re.search(r'<p class="kpi-value">(?:<a[^>]*>)?(\d+)', body)
    return int(found.group(1)) if found else 0


def test_a_privilege_granted_through_one_worker_is_seen_through_the_other(pair):
    one, two = pair
    first, second = logged_in(one, "cc_ma"), logged_in(two, "cc_ma")
    with one.app_context():
        cardiology = _department("心内科").id
    before = [_holders(c, "心内科") for c in (first, second, first, second)]  # the second round from the caches
    pages = [_figure(_department_page(c, cardiology)) for c in (first, second, first, second)]
    assert len(set(before)) == 1 and len(set(pages)) == 1
    committed(one, lambda: _grant("心内科"))
    assert _holders(second, "心内科") == _holders(first, "心内科") == before[0] + 1
    assert _figure(_department_page(second, cardiology)) == _figure(_department_page(first, cardiology)) \
        == pages[0] + 1
    # a privilege ended through the other worker: gone from both at the next request
    committed(two, _revoke_latest)
    assert _holders(first, "心内科") == _holders(second, "心内科") == before[0]


def _revoke_latest() -> None:
    latest = db.session.scalar(select(Privilege).order_by(Privilege.id.desc()).limit(1))
    latest.status = "revoked"


def test_a_department_heads_kept_result_is_never_shown_to_another_scope(pair):
    one, _ = pair
    committed(one, lambda: (_grant("心内科"), _grant("普外科")))
    cardio, surgery, ma = (logged_in(one, login) for login in ("cc_cardio", "cc_surgery", "cc_ma"))
    for _ in range(2):  # the second round from the cache
        seen_by_cardio = cardio.get(REPORT).get_data(as_text=True)
        seen_by_surgery = surgery.get(REPORT).get_data(as_text=True)
        seen_by_ma = ma.get(REPORT).get_data(as_text=True)
        assert ">心内科<" in seen_by_cardio and ">普外科<" not in seen_by_cardio
        assert ">普外科<" in seen_by_surgery and ">心内科<" not in seen_by_surgery
        assert ">普外科<" in seen_by_ma and ">心内科<" in seen_by_ma
    # the department page: a head's choices and counts are their own, whatever another head had kept
    surgery_page = surgery.get("/credentials/capability/departments").get_data(as_text=True)
    assert "科室能力：普外科" in surgery_page and "心内科" not in surgery_page.split("科室能力：普外科", 1)[1]
    with one.app_context():
        cardiology = _department("心内科").id
    assert surgery.get(f"/credentials/capability/departments?department_id={cardiology}").status_code == 404


def test_a_kept_result_is_not_shown_on_the_next_day(pair, monkeypatch):
    """Privileges count by day: one ending today is gone tomorrow though nothing was written."""
    import portal.core.timeutil as timeutil
    from portal.credentials.capability import reports as cap_reports
    from portal.credentials.capability import views as cap_views
    from portal.reports import params as report_params

    one, _ = pair
    day = date(2031, 3, 10)

    def today() -> date:
        return day

    for module in (timeutil, cap_reports, cap_views, report_params):
        monkeypatch.setattr(module, "local_today", today)
    committed(one, lambda: _grant("骨科", start=day - timedelta(days=30), end=day))
    client = logged_in(one, "cc_ma")
    with one.app_context():
        ortho = _department("骨科").id
    assert _holders(client, "骨科") == _holders(client, "骨科") == 1
    assert _figure(_department_page(client, ortho)) == _figure(_department_page(client, ortho)) == 1
    day = date(2031, 3, 11)
    assert _holders(client, "骨科") == 0
    assert _figure(_department_page(client, ortho)) == 0


def test_a_warm_page_reads_no_privilege_rows(pair):
    one, _ = pair
    client = logged_in(one, "cc_ma")
    with one.app_context():
        cardiology = _department("心内科").id
    url = f"/credentials/capability/departments?department_id={cardiology}"
    client.get(url)
    client.get(REPORT)
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    with one.app_context():
        engine = db.engine
    for page in (url, REPORT):
        seen.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert client.get(page).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert not [s for s in seen if "privileges" in s and "privilege_generation" not in s], page


def test_outcomes_are_kept_until_an_operation_or_event_is_written_through_any_worker(pair):
    """The person page's outcomes read operations: kept per worker under the quality generation, which every
    write to operations, events and their summaries moves."""
    from datetime import datetime

    from portal.core.workercache import worker_cache
    from portal.credentials.capability import queries
    from portal.quality.outcomes.queries import surgeon_outcomes
    from tests import quality_factories as qf

    one, two = pair
    end = date(2026, 11, 30)
    start = date(2026, 9, 1)

    def operate(surgeon_id: int, n: int, day: int, complication: bool = False) -> None:
        surgeon = db.session.get(Staff, surgeon_id)
        row = qf.surgery(f"CC{n}", f"DCC{n}", _department("普外科"), surgeon, "T-LC",
                         datetime(2026, 10, day, 1, tzinfo=UTC))
        events = {"complication": [{"surgery_record_id": f"CC{n}", "event_date": date(2026, 10, day + 1),
                                    "name": "出血"}]} if complication else None
        qf.save(surgery_rows=[row], event_rows=events)

    def setup() -> int:
        _department("普外科").code = "GS"
        db.session.commit()
        qf.make_catalogue()
        return qf.make_surgeon(_department("普外科"), "缓存刀").id

    with one.app_context():
        surgeon_id = setup()
        operate(surgeon_id, 1, 5)

    def seen(app) -> tuple[int, int, int]:
        with app.test_request_context("/"):
            found = queries.outcomes(surgeon_id, start, end)
            direct = surgeon_outcomes(surgeon_id, start, end)
            assert [(r.label, r.cases, r.mine["complication"].events) for r in found.by_technology] == \
                [(r.label, r.cases, r.mine["complication"].events) for r in direct.by_technology]
            row = found.by_technology[0]
            return row.cases, row.mine["complication"].events, worker_cache("capability_outcomes").loads

    cases, events, loads = seen(two)
    assert (cases, events) == (1, 0)
    assert seen(two) == (1, 0, loads)  # kept: not built again
    with one.app_context():
        operate(surgeon_id, 2, 9, complication=True)
    assert seen(two)[:2] == (2, 1)
    assert seen(one)[:2] == (2, 1)


def _person(client, staff_id: int) -> tuple[int, str]:
    answer = client.get(f"/credentials/capability/people/{staff_id}")
    return answer.status_code, answer.get_data(as_text=True)


def test_a_person_page_shows_what_the_other_worker_wrote_at_the_next_request(pair):
    """Qualifications, privileges and the staff record are kept on the privilege generation; alerts are read live."""
    from portal.core.timeutil import local_today
    from portal.credentials.models.privileges import PrivilegeAlert
    from portal.credentials.models.qualifications import Qualification, QualificationType

    one, two = pair
    found = {}
    committed(one, lambda: found.setdefault("id", _grant("心内科")))
    person = found["id"]
    first, second = logged_in(one, "cc_ma"), logged_in(two, "cc_ma")
    for client in (first, second, first, second):
        assert "分级授权（1）" in _person(client, person)[1]

    def add_privilege():
        today = local_today()
        db.session.add(Privilege(staff_id=person, kind="grade", grade=3, categories="surgery", can_order=True,
                                 can_perform=True, valid_from=today, valid_to=today + timedelta(days=60),
                                 status="active", action="apply", source="manual"))

    committed(two, add_privilege)
    for client in (first, second):
        body = _person(client, person)[1]
        assert "分级授权（2）" in body and "90 天内到期（1）" in body

    def add_qualification():
        kind = QualificationType(code="CC-Q", name="缓存资质", requires_attachment=False)
        db.session.add(kind)
        db.session.flush()
        db.session.add(Qualification(staff_id=person, type_id=kind.id, number="CCQ-001", status="active",
                                     source="manual", valid_from=local_today(), valid_to=None))

    committed(one, add_qualification)
    for client in (second, first):
        body = _person(client, person)[1]
        assert "资质（1）" in body and "CCQ-001" in body

    def alert():
        tech = db.session.scalar(select(Technology).where(Technology.code == "CC-T1"))
        db.session.add(PrivilegeAlert(staff_id=person, technology_id=tech.id, day=local_today(), right="perform",
                                      code="CC-T1", reason="缓存拦截原因"))

    committed(one, alert)  # moves no generation: read at every request
    assert all("缓存拦截原因" in _person(c, person)[1] for c in (second, first))

    # the staff record: renamed, then moved to another department (a head's scope follows at once)
    head = logged_in(two, "cc_surgery")
    assert _person(head, person)[0] == 404
    committed(one, lambda: setattr(db.session.get(Staff, person), "name", "改名缓存医生"))
    assert "改名缓存医生的能力" in _person(second, person)[1]
    committed(one, lambda: setattr(db.session.get(Staff, person), "department_id", _department("普外科").id))
    status, body = _person(head, person)
    assert status == 200 and "普外科" in body
    committed(one, lambda: setattr(db.session.get(Staff, person), "department_id", _department("心内科").id))
    assert _person(head, person)[0] == 404


def test_the_department_choices_follow_a_rename_through_the_other_worker(pair):
    one, two = pair
    first, second = logged_in(one, "cc_ma"), logged_in(two, "cc_ma")
    with one.app_context():
        cardiology = _department("心内科").id
    for client in (first, second, first, second):
        assert "心内科</option>" in _department_page(client, cardiology)
    committed(one, lambda: setattr(_department("心内科"), "name", "心内缓存科"))
    for client in (second, first):
        body = _department_page(client, cardiology)
        assert "心内缓存科</option>" in body and "心内科</option>" not in body
    committed(two, lambda: setattr(_department("心内缓存科"), "name", "心内科"))
    assert "心内科</option>" in _department_page(first, cardiology)
