"""Big imports run as a job: the threshold, the progress partial, the notification, and all-or-nothing."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date
from typing import Any

import pytest
from rq import SimpleWorker
from rq.timeouts import JobTimeoutException
from sqlalchemy import func, select

import jobs
from jobs.io import import_crashed
from portal.auth import services as auth_services
from portal.auth.models import Staff
from portal.core.audit import AuditLog
from portal.core.redis_conn import get_queue, get_redis
from portal.extensions import db
from portal.io import background, imports
from portal.io.columns import ImportColumn
from portal.io.models import ImportLog
from portal.notify.models import Notification
from portal.supervision.models import Finding
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_user

HEADER = ["工号", "姓名", "科室"]
STARTED: list[str] = []


@pytest.fixture
def worker_app(app, monkeypatch):
    """Jobs run against the test application; big means more than 3 rows here."""
    monkeypatch.setitem(app.config, "IMPORT_JOB_ROWS", 3)
    monkeypatch.setattr(jobs, "_app", app)
    yield app
    with app.app_context():  # the Redis server may be shared: remove this test's job keys only
        while STARTED:
            key = background._key("import", STARTED.pop())
            get_redis().delete(key + ":file")


def drain() -> None:
    queue = get_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def staff_rows(count: int, prefix: str = "J") -> list[list[Any]]:
    return [HEADER] + [[f"{prefix}{n:03d}", f"后台{n}", "心内科"] for n in range(1, count + 1)]


def preview_page(client, code: str, content: bytes, name: str = "大文件.xlsx"):
    """The preview: in the request for a small file, else after its preview job ran."""
    page = client.submit(f"/imports/{code}/preview", {"file": (io.BytesIO(content), name)},
                         content_type="multipart/form-data")
    if page.status_code == 303:
        job_id_of(page)
        drain()
        page = client.get(page.headers["Location"])
    assert page.status_code == 200, text_of(page)[:300]
    return page


def upload(client, code: str, content: bytes, mode: str = "upsert", name: str = "大文件.xlsx"):
    preview_page(client, code, content, name)
    return client.submit(f"/imports/{code}/commit", {"sha256": hashlib.sha256(content).hexdigest(), "mode": mode})


def job_id_of(response) -> str:
    assert response.status_code == 303, text_of(response)[:300]
    match = re.fullmatch(r"/imports/jobs/([0-9a-f]{32})", response.headers["Location"])
    assert match, response.headers["Location"]
    STARTED.append(match.group(1))
    return match.group(1)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def importer(login: str = "root", roles=("sysadmin",), tree=None):
    user = make_user(login, list(roles), tree.hospital if tree else None)
    return user


def test_a_file_at_the_threshold_is_committed_in_the_request(worker_app, client, tree):
    importer(tree=tree)
    client.login("root")
    done = upload(client, "staff", xlsx_bytes(staff_rows(3)))
    assert done.status_code == 303 and done.headers["Location"] == "/imports/staff"
    assert count(Staff) >= 3 and db.session.scalar(select(Staff.name).where(Staff.employee_no == "J003")) == "后台3"
    assert "导入完成：新增 3 条" in text_of(client.get("/imports/staff"))


def test_a_bigger_file_runs_as_a_job_with_progress_and_a_notification(worker_app, client, tree):
    root = importer(tree=tree)
    client.login("root")
    before = count(Staff)
    content = xlsx_bytes(staff_rows(4))
    page = preview_page(client, "staff", content)
    assert "检查完成" in text_of(page) and "确认后将在后台导入" in text_of(page)
    job_id = job_id_of(client.submit("/imports/staff/commit",
                                     {"sha256": hashlib.sha256(content).hexdigest(), "mode": "upsert"}))
    assert count(Staff) == before  # nothing written in the request

    queued = client.get(f"/imports/jobs/{job_id}")
    html = queued.get_data(as_text=True)
    assert queued.status_code == 200 and "大文件.xlsx" in html and "排队中" in text_of(queued)
    assert 'hx-trigger="every 1s"' in html and f'hx-get="/imports/jobs/{job_id}"' in html

    drain()
    assert count(Staff) == before + 4
    final = client.htmx_get(f"/imports/jobs/{job_id}")
    html = final.get_data(as_text=True)
    assert final.status_code == 200 and "<h1" not in html  # the partial only
    assert 'data-state="done"' in html and "hx-trigger" not in html  # polling stops
    log = db.session.scalars(select(ImportLog).order_by(ImportLog.id.desc())).first()
    assert (log.user_id, log.rows_new, log.filename) == (root.id, 4, "大文件.xlsx")
    assert "导入完成：新增 4 条，更正 0 条，未变 0 条。" in text_of(final)
    assert f'href="/imports/logs/{log.id}"' in html

    note = db.session.scalars(select(Notification).where(Notification.user_id == root.id)
                              .order_by(Notification.id.desc())).first()
    assert note.title == "导入完成：人员档案" and "新增 4 条" in note.body and note.link == f"/imports/logs/{log.id}"
    assert "新增4" in text_of(client.get(note.link)).replace(" ", "")
    # The audit trail names the user who uploaded the file, not the system that ran the job.
    record = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "import_log")
                                .order_by(AuditLog.id.desc())).first()
    assert record.user_id == root.id
    assert get_redis().get(background._key("import", job_id) + ":file") is None  # the copy is gone
    assert background.run_import(job_id) == {"state": "done"}  # running it again imports nothing twice
    assert count(Staff) == before + 4


def test_progress_partial_while_running(worker_app, client, tree):
    importer(tree=tree)
    client.login("root")
    job_id = job_id_of(upload(client, "staff", xlsx_bytes(staff_rows(4))))
    job = background.load("import", job_id)
    background._update(job, state="running", stage="check", done=2)
    checking = client.htmx_get(f"/imports/jobs/{job_id}")
    assert "正在检查，第 2 / 4 行" in text_of(checking) and 'value="25"' in checking.get_data(as_text=True)
    background._update(job, stage="write", done=3)
    writing = client.htmx_get(f"/imports/jobs/{job_id}")
    html = writing.get_data(as_text=True)
    assert "正在写入，第 3 / 4 行" in text_of(writing) and 'value="87"' in html and 'hx-trigger="every 1s"' in html
    background._update(job, state="queued")
    drain()


def test_commit_reports_progress_by_stage(session, tree):
    seen: list[tuple[str, int]] = []
    imports.commit("staff", "a.xlsx", xlsx_bytes(staff_rows(2, "P")), "upsert", user_id=None,
                   progress=lambda stage, done: seen.append((stage, done)))
    assert seen == [("check", 2), ("write", 2)]


# --- a row that fails while being written ---

def _find_findings(keys: list[tuple]) -> dict[tuple, Finding]:
    titles = [k[0] for k in keys]
    return {(f.title,): f for f in db.session.scalars(select(Finding).where(Finding.title.in_(titles)))}


def _write_finding(values: dict[str, Any], existing: Finding | None) -> bool:
    db.session.add(Finding(department_id=values["department_id"], title=values["title"], description="导入",
                           deadline=values["deadline"], status="issued"))
    return True


FRAGILE = imports.ImportType(
    code="test_fragile", label="测试问题", key=("title",), find_existing=_find_findings, write_row=_write_finding,
    columns=[ImportColumn("title", "问题", required=True), ImportColumn("department_id", "科室编号", kind="int",
                                                                        required=True),
             ImportColumn("deadline", "整改期限", kind="date", required=True)])


@pytest.fixture
def fragile(monkeypatch):
    # The department is a plain number here, so an unknown one passes the check and fails at the write.
    monkeypatch.setitem(imports.TYPES, FRAGILE.code, FRAGILE)
    return FRAGILE


def fragile_file(tree, rows: int) -> bytes:
    good = [[f"后台问题{n}", tree.cardiology.id, date(2027, 1, n)] for n in range(1, rows)]
    return xlsx_bytes([["问题", "科室编号", "整改期限"], *good, ["最后一行", 2**30, date(2027, 2, 1)]])


def test_a_job_whose_last_row_cannot_be_written_leaves_nothing(worker_app, client, tree, fragile):
    root = importer(tree=tree)
    client.login("root")
    before = count(Finding), count(ImportLog)
    job_id = job_id_of(upload(client, "test_fragile", fragile_file(tree, 5), name="问题.xlsx"))
    drain()
    assert (count(Finding), count(ImportLog)) == before
    job = background.load("import", job_id)
    assert job.state == "failed" and "第 6 行无法写入" in job.message and "没有写入任何数据" in job.message
    final = client.htmx_get(f"/imports/jobs/{job_id}")
    html = final.get_data(as_text=True)
    assert 'data-state="failed"' in html and "hx-trigger" not in html and "导入失败：第 6 行" in text_of(final)
    note = db.session.scalars(select(Notification).where(Notification.user_id == root.id)).one()
    assert note.title == "导入失败：测试问题" and "第 6 行无法写入" in note.body


def test_the_same_failure_in_the_request_is_a_422_and_leaves_nothing(worker_app, client, tree, fragile):
    importer(tree=tree)
    client.login("root")
    before = count(Finding)
    refused = upload(client, "test_fragile", fragile_file(tree, 3))
    assert refused.status_code == 422 and "第 4 行无法写入" in text_of(refused)
    assert count(Finding) == before


def test_a_job_that_dies_is_marked_failed_once_and_never_runs_late(worker_app, client, tree):
    root = importer(tree=tree)
    client.login("root")
    before = count(Staff)
    job_id = job_id_of(upload(client, "staff", xlsx_bytes(staff_rows(4))))
    rq_job = next(j for j in get_queue().jobs if j.args == (job_id,))
    assert rq_job.failure_callback is import_crashed
    # What RQ calls when the job is stopped by its timeout or loses its worker.
    import_crashed(rq_job, rq_job.connection, JobTimeoutException, JobTimeoutException("超时"), None)
    import_crashed(rq_job, rq_job.connection, JobTimeoutException, JobTimeoutException("超时"), None)
    assert background.load("import", job_id).state == "failed"
    notes = db.session.scalars(select(Notification).where(Notification.user_id == root.id)).all()
    assert [n.title for n in notes] == ["导入失败：人员档案"] and "意外中止" in notes[0].body
    drain()  # the queued job, if a worker picks it up after all, does nothing
    assert count(Staff) == before and background.load("import", job_id).state == "failed"


# --- who may see a job ---

def test_only_the_importer_or_a_holder_of_the_type_permission_sees_the_job(worker_app, client, tree):
    importer(tree=tree)
    auth_services.create_role(code="ij_importer", name="仅导入", description="", data_scope="own",
                              permissions=["io.import"])
    db.session.commit()
    make_user("other", ["ij_importer"], tree.cardiology)
    importer("colleague", tree=tree)
    client.login("root")
    job_id = job_id_of(upload(client, "staff", xlsx_bytes(staff_rows(4))))
    client.login("other")
    assert client.get(f"/imports/jobs/{job_id}").status_code == 404
    assert client.htmx_get(f"/imports/jobs/{job_id}").status_code == 404
    client.login("colleague")  # holds staff.edit, the staff import's own permission
    assert client.get(f"/imports/jobs/{job_id}").status_code == 200
    drain()


@pytest.mark.parametrize("job_id", ["nothex", "0" * 32, "A" * 32, "0" * 33, "0" * 31, "%00" * 11, "x" * 500])
def test_bad_or_unknown_job_ids_are_404(client, tree, job_id):
    importer(tree=tree)
    client.login("root")
    response = client.get(f"/imports/jobs/{job_id}")
    assert response.status_code == 404 and "不存在" in text_of(response)
