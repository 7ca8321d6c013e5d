"""Big exports run as a job: same query and data scope as the user, a notification, a private file for a day.

A test-only export of supervision findings is registered and served by a test view, on an application
whose threshold is 3 rows.
"""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from flask import Blueprint, request
from openpyxl import load_workbook
from rq import SimpleWorker
from sqlalchemy import select

import jobs
from portal.core.audit import AuditLog
from portal.core.listing import bad_request
from portal.core.permissions import require
from portal.core.redis_conn import get_queue, get_redis
from portal.extensions import db
from portal.io import background, export
from portal.io.export import Column, ExportSpec, export_registered
from portal.notify.models import Notification
from portal.supervision import VIEW
from portal.supervision import services as supervision
from portal.supervision.models import STATES
from tests import factories
from tests.conftest import PortalClient, build_app, rolled_back, text_of

CODE = "test_findings_export"
STARTED: list[str] = []


def build_findings(user, args: dict[str, str]) -> ExportSpec:
    status = args.get("status", "")
    if status and status not in STATES:
        raise bad_request("参数“status”的取值无效")
    columns = [Column("科室", lambda f: f.department.name), Column("问题", lambda f: f.title),
               Column("整改期限", lambda f: f.deadline)]
    return ExportSpec(supervision.list_query(user.principal, status), columns, "督导问题", "supervision_finding",
                      {"status": status})


@pytest.fixture
def export_app(database_url, redis_server, tmp_path, monkeypatch):
    app = build_app(database_url, redis_server, tmp_path / "instance", EXPORT_JOB_ROWS=3)
    app.test_client_class = PortalClient
    views = Blueprint("test_exports", __name__)

    @views.route("/test-exports/findings")
    @require(VIEW)
    def export_test_findings():
        return export_registered(CODE, request.args)

    app.register_blueprint(views)
    monkeypatch.setitem(export.EXPORTS, CODE, export.RegisteredExport(CODE, build_findings, VIEW))
    monkeypatch.setattr(jobs, "_app", app)
    try:
        with rolled_back(app):
            yield app
            while STARTED:  # the Redis server may be shared: remove this test's job keys only
                key = background._key("export", STARTED.pop())
                get_redis().delete(key, key + ":file")
    finally:
        app.extensions["db.engine"].dispose()
        app.extensions["redis"].close()


@pytest.fixture
def world(export_app):
    tree = factories.make_tree()
    users = {
        "head": factories.make_user("head", ["dept_head"], tree.cardiology),
        "surgeon": factories.make_user("surgeon", ["dept_head"], tree.surgery),
        "office": factories.make_user("office", ["ma_staff"], tree.hospital),
    }
    for n in range(1, 5):
        supervision.issue_finding(department_id=tree.cardiology.id, title=f"心内问题{n}", description="-",
                                  deadline=date(2027, 3, n))
    for n in range(1, 3):
        supervision.issue_finding(department_id=tree.surgery.id, title=f"外科问题{n}", description="-",
                                  deadline=date(2027, 3, n))
    db.session.commit()
    return users


@pytest.fixture
def client(export_app):
    return export_app.test_client()


def drain() -> None:
    queue = get_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def sheet_rows(content: bytes) -> list[list]:
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(content)).active.iter_rows()]
    header = next(i for i, r in enumerate(rows) if r[0] == "科室")
    return rows[header + 1:]


def submit_export(client) -> str:
    response = client.get("/test-exports/findings")
    assert response.status_code == 303, text_of(response)[:300]
    match = re.fullmatch(r"/exports/([0-9a-f]{32})", response.headers["Location"])
    assert match, response.headers["Location"]
    STARTED.append(match.group(1))
    return match.group(1)


def test_a_small_export_is_written_in_the_request(world, client):
    client.login("surgeon")
    response = client.get("/test-exports/findings")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert [r[1] for r in sheet_rows(response.data)] == ["外科问题1", "外科问题2"]


def test_a_big_export_becomes_a_job_with_the_users_scope_and_a_notification(world, client):
    head = world["head"]
    client.login("head")
    job_id = submit_export(client)
    page = client.get(f"/exports/{job_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "导出任务已提交，完成后将通知您" in text_of(page)
    assert 'hx-trigger="every 1s"' in html and f'hx-get="/exports/{job_id}/progress"' in html

    drain()
    progress = client.htmx_get(f"/exports/{job_id}/progress")
    html = progress.get_data(as_text=True)
    assert 'data-state="done"' in html and "hx-trigger" not in html and f'href="/exports/{job_id}"' in html
    note = db.session.scalars(select(Notification).where(Notification.user_id == head.id)
                              .order_by(Notification.id.desc())).first()
    assert note.title == "导出完成：督导问题" and "共 4 条记录" in note.body and note.link == f"/exports/{job_id}"

    download = client.get(note.link)
    assert download.status_code == 200 and download.mimetype.endswith("spreadsheetml.sheet")
    # The job rebuilt the department head's own query: the surgery findings are not in the file.
    assert [r[1] for r in sheet_rows(download.data)] == ["心内问题1", "心内问题2", "心内问题3", "心内问题4"]
    record = db.session.scalars(select(AuditLog).where(AuditLog.action == "export")
                                .order_by(AuditLog.id.desc())).first()
    assert (record.user_id, record.entity_type) == (head.id, "supervision_finding")


def test_the_filters_travel_with_the_job(world, client):
    client.login("office")  # sees every department: 6 findings, all issued
    job_id = submit_export(client)
    drain()
    assert len(sheet_rows(client.get(f"/exports/{job_id}").data)) == 6
    filtered = client.get("/test-exports/findings?status=accepted")
    assert filtered.status_code == 200 and sheet_rows(filtered.data) == []  # 0 rows: no job
    assert client.get("/test-exports/findings?status=nonsense").status_code == 400


def test_htmx_gets_202_and_the_partial(world, client):
    client.login("head")
    response = client.htmx_get("/test-exports/findings")
    html = response.get_data(as_text=True)
    STARTED.extend(re.findall(r"/exports/([0-9a-f]{32})", html)[:1])
    assert response.status_code == 202 and "导出任务已提交，完成后将通知您" in text_of(response)
    assert 'data-testid="export-job"' in html and "<h1" not in html
    drain()


def test_only_the_exporter_can_see_or_download(world, client):
    client.login("head")
    job_id = submit_export(client)
    drain()
    client.login("office")  # may see every department, but the file is not theirs
    assert client.get(f"/exports/{job_id}").status_code == 404
    assert client.get(f"/exports/{job_id}/progress").status_code == 404
    client.login("head")
    assert client.get(f"/exports/{job_id}").status_code == 200


def test_an_expired_file_is_410_in_chinese(world, client):
    client.login("head")
    job_id = submit_export(client)
    drain()
    get_redis().delete(background._key("export", job_id) + ":file")  # what the 24-hour TTL does
    for url in (f"/exports/{job_id}", f"/exports/{job_id}/progress"):
        gone = client.get(url)
        assert gone.status_code == 410 and "导出文件已过期" in text_of(gone)


def test_a_failed_export_says_why_and_notifies(world, client, monkeypatch):
    head = world["head"]
    client.login("head")
    job_id = submit_export(client)
    monkeypatch.delitem(export.EXPORTS, CODE)  # withdrawn between the request and the job
    drain()
    partial = client.htmx_get(f"/exports/{job_id}/progress")
    assert 'data-state="failed"' in partial.get_data(as_text=True) and "该导出已不再提供" in text_of(partial)
    note = db.session.scalars(select(Notification).where(Notification.user_id == head.id,
                                                         Notification.category == "system")).one()
    assert note.title == "导出失败：督导问题" and "该导出已不再提供" in note.body
    assert client.get(f"/exports/{job_id}").status_code == 200  # the page, with the reason


@pytest.mark.parametrize("job_id", ["nothex", "0" * 32, "F" * 32, "0" * 33, "x" * 300])
def test_bad_or_unknown_export_ids_are_404(world, client, job_id):
    client.login("head")
    assert client.get(f"/exports/{job_id}").status_code == 404
    assert client.get(f"/exports/{job_id}/progress").status_code == 404


def test_the_audit_log_export_becomes_a_job_that_parses_the_lists_own_filters(world, client):
    factories.make_user("auditor1", ["auditor"])
    client.login("auditor1")
    response = client.get("/audit/export?entity_type=supervision_finding&action=create")
    assert response.status_code == 303, text_of(response)[:300]
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    STARTED.append(job_id)
    drain()
    download = client.get(f"/exports/{job_id}")
    assert download.status_code == 200 and download.mimetype.endswith("spreadsheetml.sheet")
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(download.data)).active.iter_rows()]
    header = next(i for i, r in enumerate(rows) if r[0] == "编号")
    kinds = {(r[4], r[7]) for r in rows[header + 1:]}
    assert kinds == {("督导整改", "新建")} and len(rows[header + 1:]) == 6  # the six findings, nothing else
    # A bad filter fails in the request already, not later in the job.
    assert client.get("/audit/export?action=nonsense").status_code == 400
