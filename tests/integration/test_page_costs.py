"""What each page costs per request, and that the cheaper path keeps the guarantee of the old one.

No timing: the tests count statements and check transaction state. A page read on PostgreSQL runs without
BEGIN/COMMIT until it writes, and a read that writes is still one transaction; a signed-out or deactivated
user is refused on the very next request; a case manager's patient list evaluates visibility once; the
supervisor's overview shows flagged tasks in batches; the plan API reads plain rows and answers an identical
resubmission with one query.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from portal import extensions
from portal.auth import services as auth_services
from portal.auth.models import User
from portal.auth.principal import clear_cache
from portal.casemgmt.models import CareTask, Patient, Plan, PlanItem
from portal.casemgmt.plans import clock as plan_clock
from portal.casemgmt.plans import services as plan_services
from portal.casemgmt.tasks import services as task_services
from portal.core import audit, listing, masking, migrate
from portal.core.audit import AuditLog
from portal.core.permissions import public
from portal.core.timeutil import local_today
from portal.extensions import db, needs_transaction
from tests import cm_factories as cm
from tests import factories, sqlcount
from tests.api_factories import make_token
from tests.backends import fresh_database
from tests.conftest import PortalClient, build_app, text_of

TODAY = local_today()


def test_only_plain_reads_run_outside_a_transaction():
    assert not needs_transaction("SELECT users.id FROM users WHERE users.id = %(id)s")
    assert not needs_transaction("WITH RECURSIVE anon_1(patient_id) AS (SELECT min(care_tasks.patient_id) ...")
    assert not needs_transaction("SELECT users.updated_at, users.last_login_at FROM users")
    for statement in ("INSERT INTO audit_logs (x) VALUES (1)", "UPDATE users SET x = 1", "DELETE FROM t",
                      "SELECT plans.id FROM plans WHERE plans.plan_date = %(d)s FOR UPDATE",
                      "SELECT patients.id FROM patients FOR NO KEY UPDATE", "SELECT pg_advisory_xact_lock(1)",
                      "WITH moved AS (UPDATE t SET x = 1 RETURNING id) SELECT id FROM moved",
                      "SELECT nextval('s')", "  create temp table x (y int)", "SAVEPOINT sa_1"):
        assert needs_transaction(statement), statement


# --- page reads on PostgreSQL: no BEGIN/COMMIT until a write --------------------------------------------------


@pytest.fixture(scope="module")
def committed(tmp_root, redis_server):
    """An app on its own committed database (the engine itself is the bind, as in production)."""
    clear_cache()
    with fresh_database(tmp_root, "pagecost") as url:
        if not url.startswith("postgresql"):
            pytest.skip("reads without BEGIN are PostgreSQL's (SQLite keeps its own BEGIN handling)")
        migrate.upgrade(url)
        app = build_app(url, redis_server, tmp_root / "pagecost-instance")
        app.test_client_class = PortalClient

        @app.get("/_test/probe")
        @public
        def probe():  # a read that writes two rows, then fails when asked to
            from flask import request

            db.session.execute(text("SELECT id FROM lazy_probe WHERE id = -1 FOR UPDATE"))
            db.session.execute(text("INSERT INTO lazy_probe (note) VALUES ('one')"))
            db.session.execute(text("INSERT INTO lazy_probe (note) VALUES ('two')"))
            if request.args.get("fail"):
                raise RuntimeError("after two writes")
            return "ok"

        with app.app_context():
            db.session.execute(text("CREATE TABLE lazy_probe (id serial PRIMARY KEY, note text)"))
            tree = factories.make_tree()
            manager = cm.make_case_manager("cm_cost", tree.surgery, "成本个管")
            ward = cm.make_ward("胸外病区", tree.surgery)
            for n in range(3):
                patient = cm.make_patient(f"患者{n}", id_number=cm.resident_id(), phone=None)
                cm.enrol(patient, case_manager=manager, ward=ward)
            factories.make_user("doc_cost", ["clinician"], tree.cardiology)
            db.session.commit()
        try:
            yield app
        finally:
            app.extensions["db.engine"].dispose()
            clear_cache()


def test_a_page_read_sends_no_begin_and_no_commit(committed):
    client = committed.test_client()
    client.login("cm_cost")
    assert client.get("/casemgmt/patients").status_code == 200  # caches filled
    with sqlcount.statements(committed.extensions["db.engine"]) as seen:
        page = client.get("/casemgmt/patients")
    assert page.status_code == 200 and "患*" in text_of(page)
    assert seen  # the user, the list...
    assert set(seen.states) == {0}  # ...each in its own snapshot, none inside a transaction: nothing to commit


def test_a_pooled_connection_pinged_before_a_read_still_reads_outside_a_transaction(committed, monkeypatch):
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout is pinged first
    client = committed.test_client()
    client.login("cm_cost")
    with sqlcount.statements(committed.extensions["db.engine"]) as seen:
        for _ in range(3):
            assert client.get("/casemgmt/patients").status_code == 200
    assert set(seen.states) == {0}


def test_a_read_that_writes_is_one_transaction_committed_or_rolled_back_whole(committed):
    client = committed.test_client()
    engine = committed.extensions["db.engine"]
    with sqlcount.statements(engine) as seen:
        assert client.get("/_test/probe").status_code == 200
    assert seen.states[-3:] == [2, 2, 2]  # FOR UPDATE began a transaction (2: INTRANS) before the writes
    with sqlcount.statements(engine):
        failed = client.get("/_test/probe?fail=1")
    assert failed.status_code == 500
    with engine.connect() as conn:
        assert conn.execute(text("SELECT note FROM lazy_probe ORDER BY id")).scalars().all() == ["one", "two"]


def test_an_export_streams_and_audits_from_a_read(committed):
    client = committed.test_client()
    client.login("cm_cost")
    export = client.get("/casemgmt/patients/export")
    assert export.status_code == 200 and export.data[:2] == b"PK"  # a server-side cursor needs a transaction
    with committed.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "export")) >= 1


def test_logout_and_deactivation_take_effect_on_the_next_read(committed):
    client = committed.test_client()
    client.login("doc_cost")
    assert client.get("/").status_code == 200
    other = committed.test_client()
    other.login("doc_cost")
    assert client.submit("/logout").status_code == 303
    assert client.get("/").status_code == 302  # this browser is out
    assert other.get("/").status_code == 200  # the other device stays in...
    with committed.app_context():
        auth_services.set_user_active(db.session.scalar(select(User).where(User.login_name == "doc_cost")),
                                      False, acting_user_id=None)
        db.session.commit()
    refused = other.get("/")  # ...until the account is deactivated: refused on the very next request
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")


# --- the case manager's patient list ------------------------------------------------------------------------


@pytest.fixture
def statements(session):
    with sqlcount.statements() as seen:
        yield seen


def test_a_case_managers_patient_list_evaluates_visibility_once(app, client, tree, statements):
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    ward = cm.make_ward("胸外病区", tree.surgery)
    for n in range(23):
        cm.enrol(cm.make_patient(f"患者{n:02d}", id_number=cm.resident_id(), phone=None), case_manager=li, ward=ward)
    cm.make_patient("别人的患者", id_number=cm.resident_id(), phone=None)
    db.session.commit()
    client.login("cm_li")
    app.config["PAGE_SIZE"], size = 10, app.config["PAGE_SIZE"]
    try:
        client.get("/casemgmt/patients")
        statements.clear()
        first = client.get("/casemgmt/patients")
        visibility = [s for s in statements if "care_task_patients" in s]
        last = client.get("/casemgmt/patients?page=3")
        beyond = client.get("/casemgmt/patients?page=9")  # past the end: the last page
    finally:
        app.config["PAGE_SIZE"] = size
    assert first.status_code == 200 and len(visibility) == 1  # page and total from one evaluation
    assert "（23）" in text_of(first) and text_of(first).count("患*") == 10
    assert text_of(last).count("患*") == 3 and text_of(beyond).count("患*") == 3
    assert masking.mask_name("别人的患者") not in text_of(first)


def test_a_long_lists_total_is_cached_per_filter_value(app, tree):
    for n in range(5):
        audit.record("create", "patient", "1" if n < 3 else "2", label="x")
    db.session.flush()
    app.config["LIST_EXACT_COUNT_LIMIT"] = 0  # every list counts as long: totals come from the cache
    try:
        with app.test_request_context("/"):
            def rows_of(entity_id):
                return select(AuditLog).where(AuditLog.entity_id == entity_id, AuditLog.entity_type == "patient")

            one, two, again = (listing.count_rows(rows_of(i)) for i in ("1", "2", "1"))
    finally:
        app.config["LIST_EXACT_COUNT_LIMIT"] = 5000
        listing._counts.clear()
    assert (one, two, again) == (3, 2, 3)


# --- the supervisor's overview: flagged tasks in batches -------------------------------------------------------


def flag_tasks(tree, count: int) -> None:
    manager = cm.make_case_manager("cm_flag", tree.surgery, "标记个管")
    ward = cm.make_ward("胸外病区", tree.surgery)
    patient = cm.make_patient("张三丰", id_number=cm.resident_id(), phone=None)
    enrolment = cm.enrol(patient, case_manager=manager, ward=ward)
    now = datetime.now(UTC)
    for n in range(count):
        db.session.add(CareTask(
            due_date=TODAY - timedelta(days=1), first_due_date=TODAY - timedelta(days=1), occurrence=n,
            case_manager_id=manager.id, patient_id=patient.id, enrolment_id=enrolment.id, source="plan",
            task_type="phone_followup", title=f"随访{n:02d}", ward_id=ward.id, status="unreached",
            outcome="not_reached", attempts=3, completed_at=now, completed_by_id=manager.id,
            flagged_at=now - timedelta(minutes=count - n)))  # the oldest first
    db.session.commit()


def cards(html: str) -> list[str]:
    return re.findall(r'class="task-title"[^>]*>([^<]+)<', html)


def test_the_overview_shows_a_batch_of_flagged_tasks_with_the_total_and_more(client, tree):
    factories.make_user("cm_boss", ["cm_supervisor"], tree.surgery)
    flag_tasks(tree, task_services.FLAGGED_PAGE + 6)
    client.login("cm_boss")
    page = client.get("/casemgmt/tasks/overview")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert cards(html) == [f"随访{n:02d}" for n in range(task_services.FLAGGED_PAGE)]  # oldest first, one batch
    assert f"（{task_services.FLAGGED_PAGE + 6}）" in text_of(page)
    assert "显示更多（还有 6 条）" in text_of(page)
    assert f"已显示 {task_services.FLAGGED_PAGE} 条，共 {task_services.FLAGGED_PAGE + 6} 条" in text_of(page)
    more = re.search(r'hx-get="([^"]*/tasks/overview/flagged[^"]*)"', html).group(1).replace("&amp;", "&")

    batch = client.htmx_get(more)  # appended to the grid by htmx
    rest = batch.get_data(as_text=True)
    assert batch.status_code == 200 and "<html" not in rest and "page-header" not in rest
    assert cards(rest) == [f"随访{n:02d}" for n in range(task_services.FLAGGED_PAGE, task_services.FLAGGED_PAGE + 6)]
    assert 'id="flagged-more"' in rest and 'hx-swap-oob="true"' in rest and "显示更多" not in rest
    assert f"已显示 {task_services.FLAGGED_PAGE + 6} 条" in text_of(batch)

    plain = client.get(more)  # without htmx: the overview with that batch
    assert plain.status_code == 200 and "任务分派" in text_of(plain)
    assert len(cards(plain.get_data(as_text=True))) == 6 and "回到最早的一批" in text_of(plain)
    assert f"显示第 {task_services.FLAGGED_PAGE + 1}–{task_services.FLAGGED_PAGE + 6} 条" in text_of(plain)
    for bad in ("after_id=3", "after_at=yesterday&after_id=3", "after_at=2026-11-23T08:00:00&after_id=3",
                "after_at=2026-11-23T08:00:00%2B00:00&after_id=-1"):
        assert client.get(f"/casemgmt/tasks/overview/flagged?{bad}").status_code == 400, bad


def test_a_card_handled_before_more_makes_none_skip(client, tree):
    """The next batch starts after the last card shown, not at a position that moves when a card leaves."""
    factories.make_user("cm_boss", ["cm_supervisor"], tree.surgery)
    flag_tasks(tree, task_services.FLAGGED_PAGE + 3)
    client.login("cm_boss")
    html = client.get("/casemgmt/tasks/overview").get_data(as_text=True)
    more = re.search(r'hx-get="([^"]*/tasks/overview/flagged[^"]*)"', html).group(1).replace("&amp;", "&")
    first = db.session.scalar(select(CareTask).where(CareTask.title == "随访00"))
    assert client.submit(f"/casemgmt/tasks/{first.id}/dismiss", {"mode": "overview"}, htmx=True).status_code == 200
    rest = client.htmx_get(more)
    assert cards(rest.get_data(as_text=True)) == [f"随访{n:02d}" for n in range(task_services.FLAGGED_PAGE,
                                                                               task_services.FLAGGED_PAGE + 3)]
    assert f"已显示 {task_services.FLAGGED_PAGE + 2} 条，共 {task_services.FLAGGED_PAGE + 2} 条" in text_of(rest)


def test_the_overview_of_few_flagged_tasks_has_no_more_link(client, tree):
    factories.make_user("cm_boss", ["cm_supervisor"], tree.surgery)
    flag_tasks(tree, 2)
    client.login("cm_boss")
    page = client.get("/casemgmt/tasks/overview")
    assert len(cards(page.get_data(as_text=True))) == 2 and "显示更多" not in text_of(page)
    assert "（2）" in text_of(page)


# --- the plan API ----------------------------------------------------------------------------------------------

DAY = "2026-11-24"
URL = f"/api/v1/plans/{DAY}"


@pytest.fixture
def his(tree, monkeypatch):
    monkeypatch.setattr(plan_clock, "utcnow", lambda: datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # 16:00 Beijing
    factories.make_user("his_user", ["plan_issuer"], tree.surgery, name="HIS 接口")
    cm.make_ward("胸外病区", tree.surgery)
    for n in range(30):
        cm.make_patient(f"患者{n:02d}", hospital_no=f"ZY{n:03d}", id_number=cm.resident_id(), phone=None)
    _, raw = make_token("his_user", name="HIS 次日计划")
    return {"Authorization": f"Bearer {raw}"}


def items(count: int, **extra) -> list[dict]:
    return [{"id": f"A{n:02d}", "patient": f"ZY{n:03d}", "service": "accompany_admission", "ward": "胸外病区",
             "bed": str(n), "time_slot": "morning", **extra} for n in range(count)]


def test_reading_a_plan_costs_the_same_for_two_items_or_thirty(client, his, statements):
    def read(count):
        assert client.post(URL, json={"items": items(count)}, headers=his).status_code == 200
        db.session.expunge_all()
        statements.clear()
        response = client.get(URL, headers=his)
        assert response.status_code == 200 and len(response.get_json()["items"]) == count
        return len(statements), response.get_json()

    few, _ = read(2)
    many, state = read(30)
    assert many == few
    first = state["items"][0]
    assert (first["id"], first["ward_name"], first["patient_known"]) == ("A00", "胸外病区", True)
    assert first["name"] == masking.mask_name("患者00") and first["task_status"] is None


def test_an_identical_resubmission_is_answered_from_one_query_and_any_change_is_seen(client, his, statements):
    payload = {"items": items(20)}
    assert client.post(URL, json=payload, headers=his).get_json()["created"] == 20
    audits = db.session.scalar(select(func.count()).select_from(AuditLog))
    statements.clear()
    again = client.post(URL, json=payload, headers=his).get_json()
    assert (again["created"], again["updated"], again["unchanged"], again["revision"]) == (0, 0, 20, 1)
    plan_reads = [s for s in statements if "plan" in s]
    assert len(plan_reads) == 1 and "FOR UPDATE" not in plan_reads[0]  # no lock, no item or patient lookups
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audits  # nothing written

    # A change by any other path (here the form's cancel) clears the shortcut: the same body restores the item.
    item = db.session.scalar(select(PlanItem).where(PlanItem.external_id == "A03"))
    plan_services.cancel_item(item)
    db.session.commit()
    restored = client.post(URL, json=payload, headers=his).get_json()
    assert (restored["updated"], restored["unchanged"], restored["revision"]) == (1, 19, 3)
    assert client.post(URL, json=payload, headers=his).get_json()["unchanged"] == 20
    # Another body (even the same items in another order of keys) is compared in full, as before.
    changed = client.post(URL, json={"items": items(20, bed="9")}, headers=his).get_json()
    assert changed["updated"] == 19 and changed["unchanged"] == 1


def test_a_submission_leaving_a_patient_unknown_is_compared_in_full_every_time(client, his, statements):
    payload = {"items": [*items(2), {"id": "U1", "patient": "ZY404", "name": "孙七", "service": "电话随访"}]}
    for _ in range(2):
        answer = client.post(URL, json=payload, headers=his).get_json()
        assert [u["id"] for u in answer["unknown_patients"]] == ["U1"]  # listed every time
        assert db.session.scalar(select(Plan.submission_digest)) is None  # no shortcut kept
    cm.make_patient("孙七", hospital_no="ZY404", id_number=cm.resident_id(), phone=None)  # registered since
    again = client.post(URL, json=payload, headers=his).get_json()
    assert again["unknown_patients"] == []
    known = db.session.scalar(select(PlanItem.patient_id).where(PlanItem.external_id == "U1"))
    assert known == db.session.scalar(select(Patient.id).where(Patient.hospital_no == "ZY404"))
    assert db.session.scalar(select(Plan.submission_digest)) is not None  # every patient known now
