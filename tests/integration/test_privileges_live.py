"""The check against committed data, as it runs in production: two app objects (two workers) on one database
never answer from a stale cache after a committed change; concurrent denials give one alert; and HIS calls the
check over real HTTP against a served portal."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from werkzeug.serving import WSGIRequestHandler, make_server

from portal.catalogue.models.technologies import Technology
from portal.core.timeutil import local_today
from portal.credentials.models import Privilege, PrivilegeAlert, Qualification
from portal.credentials.privileges import check, services
from portal.extensions import db
from portal.notify.models import Notification
from tests import factories
from tests.api_factories import make_token
from tests.conftest import workers as app_workers
from tests.privilege_factories import give_qualification, grant, make_tech


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture(scope="module")
def workers(tmp_root, redis_server):
    """Two app objects (two workers' caches) on one fresh database, with a surgeon, entries and a HIS token."""
    with app_workers(tmp_root, redis_server, "priv_live") as (first, second):
        with second.app_context():
            tree = factories.make_tree()
            factories.make_staff("线上医生", tree.surgery, employee_no="L5001")
            factories.make_user("live_head", ["dept_head"], tree.surgery, name="线上主任")
            factories.make_user("live_ma", ["ma_staff"], tree.hospital, name="线上医务")
            make_tech("LV-3", 3, national="LV.3")
            make_tech("LV-RAD", 2, prerequisites=["RADIATION"])
            _, token = make_token("live_ma", scopes=["privileges.check"], code="HIS", name="HIS 校验")
        yield first, second, token


def ask(app, code="LV-3", right="perform", day=None):
    with app.app_context():
        answer = check.check("L5001", code, right, day or local_today())
        db.session.rollback()
        return answer


def staff(app):
    from portal.auth.models import Staff

    return db.session.scalar(select(Staff).where(Staff.employee_no == "L5001"))


def test_a_committed_change_in_one_worker_is_seen_by_the_other_at_its_next_call(workers):
    first, second, _ = workers
    assert not ask(first, "LV-3").allowed  # builds the first worker's cache
    builds = first.extensions["privilege_check_cache"].builds
    assert not ask(first, "LV-3").allowed
    assert first.extensions["privilege_check_cache"].builds == builds  # nothing changed: no rebuild
    with second.app_context():
        record = grant(staff(second), grade=3)
    assert ask(first, "LV-3").allowed  # a privilege granted in the other worker
    with second.app_context():  # a catalogue change made directly in the table
        db.session.execute(update(Technology).where(Technology.code == "LV-3").values(status="disabled"))
        db.session.commit()
    assert "停用" in ask(first, "LV-3").reason
    with second.app_context():
        db.session.execute(update(Technology).where(Technology.code == "LV-3").values(status="active"))
        db.session.execute(update(Privilege).where(Privilege.id == record.id).values(status="suspended"))
        db.session.commit()
    assert "暂停" in ask(first, "LV-3").reason
    # A qualification: held, then revoked in the other worker.
    with second.app_context():
        qualification = give_qualification(staff(second), "RADIATION")
        grant(staff(second), tech="LV-RAD")
    assert ask(first, "LV-RAD").allowed
    with second.app_context():
        db.session.execute(update(Qualification).where(Qualification.id == qualification.id).values(status="revoked"))
        db.session.commit()
    assert not ask(first, "LV-RAD").allowed
    # An uncommitted change is not seen; once rolled back the answer stays.
    with second.app_context():
        db.session.execute(update(Privilege).where(Privilege.technology_id.is_not(None)).values(status="revoked"))
        assert not ask(first, "LV-RAD").allowed
        db.session.rollback()


def test_concurrent_denials_raise_one_alert_and_one_notification_each(workers):
    first, second, _ = workers
    day = local_today() + timedelta(days=3)
    with first.app_context():
        decision = check.check("L5001", "LV-RAD", "order", day)
        db.session.rollback()
    assert not decision.allowed
    entry = {"staff_id": decision.staff_id, "technology_id": decision.technology_id, "day": day.isoformat(),
             "right": "order", "code": "LV-RAD", "reason": decision.reason}
    results, errors = [], []
    barrier = threading.Barrier(6)

    def write(app):
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results.append(services.insert_alerts([entry]))
                db.session.commit()
        except Exception as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=write, args=((first, second)[n % 2],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(results) == [0, 0, 0, 0, 0, 1]
    # Both workers note the same denial through Redis; draining writes nothing new.
    for app in (first, second):
        with app.app_context():
            app.extensions.pop("privilege_alerts_seen", None)
            assert services.record_denial(decision, "LV-RAD", "perform", day)
            assert services.drain_alerts() == 0
            db.session.commit()
    with first.app_context():
        assert db.session.scalar(select(func.count()).select_from(PrivilegeAlert).where(PrivilegeAlert.day == day)) == 1
        services.notify_alerts()
        db.session.commit()
        from portal.auth.models import User

        head = db.session.scalar(select(User.id).where(User.login_name == "live_head"))
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == head, Notification.title.like("超权限拦截%"))) == 1


def _get(base: str, path: str, token: str):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}",
                                                           "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_his_calls_the_check_over_http_and_sees_a_change_at_once(workers):
    first, second, token = workers
    server = make_server("127.0.0.1", 0, first, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        today = local_today().isoformat()
        status, body = _get(base, f"/api/v1/privileges/check?staff=L5001&code=LV.3&right=order&date={today}", token)
        assert status == 200 and body["code"] == "LV-3"
        with second.app_context():
            grant(staff(second), tech="LV-3", order=True, perform=False)
        status, body = _get(base, f"/api/v1/privileges/check?staff=L5001&code=LV.3&right=order&date={today}", token)
        assert status == 200 and body["allowed"] is True
        status, body = _get(base, f"/api/v1/privileges/check?staff=L5001&code=LV.3&right=perform&date={today}",
                            token)
        assert status == 200 and body["allowed"] is False
        status, body = _get(base, "/api/v1/privileges/check?staff=NOBODY&code=LV.3&right=order", token)
        assert status == 404 and body["error"]["code"] == "NOT_FOUND_STAFF"
        status, body = _get(base, "/api/v1/privileges/check?staff=L5001&code=LV.3&right=order&date=2026-13-01",
                            token)
        assert status == 400 and body["error"]["code"] == "BAD_DATE"
        status, body = _get(base, "/api/v1/privileges/check?staff=L5001&code=LV.3&right=order", "wrong")
        assert status == 401
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_cache_built_from_changes_later_rolled_back_is_never_taken_for_a_committed_state(workers):
    first, second, _ = workers
    make = {"kind": "grade", "technology": "", "grade": 4, "categories": ["surgery"], "can_order": True,
            "can_perform": True, "valid_from": local_today(), "valid_to": local_today() + timedelta(days=30)}
    with second.app_context():
        services.grant_privilege(staff(second), make)  # flushed, not committed
        assert check.check("L5001", "LV-3", "perform", local_today() + timedelta(days=10)).allowed
        db.session.rollback()
    with first.app_context():  # another worker commits an unrelated change
        factories.make_staff("另一位", staff(first).department)
    with second.app_context():
        answer = check.check("L5001", "LV-3", "perform", local_today() + timedelta(days=10))
        db.session.rollback()
    truth = ask(first, "LV-3", day=local_today() + timedelta(days=10))
    assert answer.allowed == truth.allowed and answer.reason == truth.reason
