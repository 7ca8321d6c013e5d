"""Original import files: who sees an import, the audited download, and the purge of personal-data originals."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from rq import SimpleWorker
from rq.cron import CronScheduler
from sqlalchemy import func, select

import jobs
from jobs.io import purge_import_originals
from jobs.schedule import register_all
from portal.auth import services as auth_services
from portal.core.audit import AuditLog
from portal.core.redis_conn import get_queue, get_redis
from portal.core.timeutil import utcnow
from portal.extensions import db
from portal.io import originals
from portal.io.models import ImportLog
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_user


def make_log(code: str, user, *, days_old: float = 0, content: bytes | None = None) -> ImportLog:
    """An import log as `imports.commit` leaves it: the type, the importer, the original file."""
    content = content if content is not None else xlsx_bytes([["列"], [f"{code} 原始内容"]])
    log = ImportLog(user_id=user.id if user else None, import_type=code, mode="upsert", filename=f"{code}原件.xlsx",
                    sha256=hashlib.sha256(content).hexdigest(), content=content,
                    created_at=utcnow() - timedelta(days=days_old))
    db.session.add(log)
    db.session.commit()
    return log


def audit_rows(action: str) -> list[AuditLog]:
    stmt = select(AuditLog).where(AuditLog.action == action, AuditLog.entity_type == "import_log")
    return list(db.session.scalars(stmt.order_by(AuditLog.id)))


@pytest.fixture
def people(tree):
    """The plan issuer (cm_plan), the case-management supervisor (cm_enrolment), the sysadmin (staff),
    a user with io.import and nothing else, the auditor, and a clinician."""
    auth_services.create_role(code="io_only", name="仅导入", description="", data_scope="own",
                              permissions=["io.import"])
    db.session.commit()
    return {
        "issuer": make_user("issuer", ["plan_issuer"], tree.hospital),
        "supervisor": make_user("supervisor", ["cm_supervisor"], tree.hospital),
        "root": make_user("root", ["sysadmin"], tree.hospital),
        "io_only": make_user("io_only", ["io_only"], tree.cardiology),
        "auditor": make_user("auditor", ["auditor"], tree.hospital),
        "clinician": make_user("clin", ["clinician"], tree.cardiology),
    }


# --- (a) every download is audited ---

def test_downloading_an_original_writes_an_audit_record_naming_user_log_and_file(client, people):
    client.login("root")
    content = xlsx_bytes([["工号", "姓名", "科室"], ["H901", "原件下载", "心内科"]])
    page = client.submit("/imports/staff/preview", {"file": (io.BytesIO(content), "人员原件.xlsx")},
                         content_type="multipart/form-data")
    assert page.status_code == 200
    assert client.submit("/imports/staff/commit", {"sha256": hashlib.sha256(content).hexdigest(),
                                                    "mode": "upsert"}).status_code == 303
    log = db.session.scalars(select(ImportLog).order_by(ImportLog.id.desc())).first()
    assert audit_rows("download") == []

    response = client.get(f"/imports/logs/{log.id}/file")
    assert response.status_code == 200 and response.data == content
    (row,) = audit_rows("download")
    assert (row.user_id, row.entity_id) == (people["root"].id, str(log.id))
    assert row.changes["file"] == "人员原件.xlsx" and row.changes["sha256"] == log.sha256
    assert "人员档案" in row.entity_label

    client.login("auditor")  # the auditor may download too, and is audited as well
    assert client.get(f"/imports/logs/{log.id}/file").data == content
    assert [r.user_id for r in audit_rows("download")] == [people["root"].id, people["auditor"].id]


def test_a_refused_download_writes_no_audit_record(client, people):
    log = make_log("cm_plan", people["issuer"])
    client.login("root")
    assert client.get(f"/imports/logs/{log.id}/file").status_code == 404
    assert audit_rows("download") == []


# --- (b) who may download ---

def test_an_unrelated_importer_gets_404_for_another_types_import_as_if_it_did_not_exist(client, people):
    plan = make_log("cm_plan", people["issuer"])
    missing = plan.id + 1000
    for login in ("io_only", "root", "supervisor"):  # io.import, but not casemgmt.plan
        client.login(login)
        for url in (f"/imports/logs/{plan.id}", f"/imports/logs/{plan.id}/file"):
            response = client.get(url)
            assert response.status_code == 404, (login, url)
            assert text_of(response) == text_of(client.get(url.replace(str(plan.id), str(missing))))
    client.login("clin")  # no io.import, not the auditor
    assert client.get(f"/imports/logs/{plan.id}/file").status_code == 404
    assert client.get("/imports/logs").status_code == 403


def test_the_importer_the_types_managers_and_the_auditor_may_download(client, people, tree):
    plan = make_log("cm_plan", people["issuer"])
    make_user("issuer2", ["plan_issuer"], tree.hospital)  # another holder of casemgmt.plan
    for login in ("issuer", "issuer2", "auditor"):
        client.login(login)
        assert client.get(f"/imports/logs/{plan.id}").status_code == 200, login
        assert client.get(f"/imports/logs/{plan.id}/file").data == plan.content, login


def test_the_importer_keeps_access_to_their_own_import_of_a_type_they_no_longer_manage(client, people):
    own = make_log("cm_enrolment", people["issuer"])  # the plan issuer does not hold casemgmt.enrol
    client.login("issuer")
    assert client.get(f"/imports/logs/{own.id}/file").status_code == 200
    client.login("io_only")
    assert client.get(f"/imports/logs/{own.id}/file").status_code == 404


# --- (c) the log list, filtered ---

def test_the_import_log_lists_only_types_the_user_manages_and_their_own(client, people):
    plan = make_log("cm_plan", people["issuer"])
    enrol = make_log("cm_enrolment", people["supervisor"])
    staff = make_log("staff", people["root"])
    own_enrol = make_log("cm_enrolment", people["issuer"])
    expected = {
        "issuer": {plan.id, own_enrol.id},
        "supervisor": {enrol.id, own_enrol.id},
        "root": {staff.id},
        "io_only": set(),
        "auditor": {plan.id, enrol.id, staff.id, own_enrol.id},
    }
    every = {plan.id, enrol.id, staff.id, own_enrol.id}
    for login, ids in expected.items():
        client.login(login)
        html = client.get("/imports/logs").get_data(as_text=True)
        shown = {i for i in every if f'href="/imports/logs/{i}"' in html}
        assert shown == ids, login
        assert f"（{len(ids)}）" in text_of(client.get("/imports/logs")), login


def test_the_list_offers_imports_only_of_types_the_user_manages(client, people):
    client.login("issuer")
    html = client.get("/imports/logs").get_data(as_text=True)
    assert 'href="/imports/cm_plan"' in html
    assert 'href="/imports/staff"' not in html and 'href="/imports/cm_enrolment"' not in html


def test_an_error_report_is_its_uploaders_alone(client, people, tree):
    make_user("root2", ["sysadmin"], tree.hospital)
    client.login("root")
    content = xlsx_bytes([["工号", "姓名", "科室"], ["H903", "", "火星科"]])
    client.submit("/imports/staff/preview", {"file": (io.BytesIO(content), "坏.xlsx")},
                  content_type="multipart/form-data")
    url = f"/imports/staff/errors/{hashlib.sha256(content).hexdigest()}"
    assert client.get(url).status_code == 200
    client.login("root2")  # manages the staff import, but did not upload this file
    assert client.get(url).status_code >= 400
    client.login("supervisor")
    assert client.get(url).status_code >= 400


# --- (d) the purge ---

def test_purge_removes_old_originals_of_personal_data_types_only_keeps_the_rows_and_is_idempotent(session, people):
    old_enrol = make_log("cm_enrolment", people["supervisor"], days_old=31)
    old_plan = make_log("cm_plan", people["issuer"], days_old=45)
    old_staff = make_log("staff", people["root"], days_old=400)
    recent_enrol = make_log("cm_enrolment", people["supervisor"], days_old=29)
    kept = {log.id: log.content for log in (old_staff, recent_enrol)}
    rows_before = db.session.scalar(select(func.count()).select_from(ImportLog))

    assert originals.purge_originals() == {"purged": 2, "days": 30}
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ImportLog)) == rows_before
    for log in (old_enrol, old_plan):
        assert log.content == b"" and log.original_purged_at is not None
        assert log.sha256 and log.rows_total == 0 and log.filename  # the log row itself is intact
    for log_id, content in kept.items():
        log = db.session.get(ImportLog, log_id)
        assert log.content == content and log.original_purged_at is None
    (entry,) = audit_rows("purge")
    assert entry.changes["count"] == 2 and entry.changes["log_ids"] == [old_enrol.id, old_plan.id]
    assert entry.changes["days"] == 30

    assert originals.purge_originals() == {"purged": 0, "days": 30}  # a second run changes nothing
    db.session.commit()
    assert len(audit_rows("purge")) == 1


def test_the_retention_period_is_configurable(app, session, people, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_ORIGINAL_DAYS", 7)
    week_old = make_log("cm_plan", people["issuer"], days_old=8)
    fresh = make_log("cm_plan", people["issuer"], days_old=6)
    assert originals.purge_originals()["purged"] == 1
    db.session.expire_all()
    assert week_old.content == b"" and fresh.content != b""
    assert audit_rows("purge")[0].changes["days"] == 7


def test_a_purged_original_is_marked_on_the_pages_and_cannot_be_downloaded(client, people):
    log_id = make_log("cm_enrolment", people["supervisor"], days_old=60).id
    originals.purge_originals()
    db.session.commit()
    client.login("supervisor")
    detail = client.get(f"/imports/logs/{log_id}")
    assert detail.status_code == 200 and "原始文件已按规定删除（保留 30 天）" in text_of(detail)
    assert f"/imports/logs/{log_id}/file" not in detail.get_data(as_text=True)
    listing = client.get("/imports/logs")
    assert "原始文件已按规定删除（保留 30 天）" in text_of(listing)
    gone = client.get(f"/imports/logs/{log_id}/file")
    assert gone.status_code == 410 and "原始文件已按规定删除" in text_of(gone)
    assert audit_rows("download") == []


def test_the_purge_runs_as_a_scheduled_job_through_the_queue(app, people):
    old_id = make_log("cm_plan", people["issuer"], days_old=90).id
    jobs.use_app(app)
    queue = get_queue()
    job = queue.enqueue(purge_import_originals)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    assert job.return_value()["purged"] == 1
    old = db.session.get(ImportLog, old_id)
    assert old.content == b"" and old.original_purged_at is not None
    with app.app_context():
        scheduler = CronScheduler(connection=get_redis(), name="test-cron-originals")
        register_all(scheduler, app.config["RQ_QUEUE"])
        assert "purge_import_originals" in {j.name for j in scheduler.get_jobs()}
