"""The import pipeline at scale: caps before parsing, lookups in bulk, previews as jobs, the write lock only
for the writing, bulk writes with one audit record, identity keys, and job rows that survive a dead worker."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import re
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

import jobs
from jobs import schedule
from portal.auth.imports import STAFF_IMPORT
from portal.auth.models import Staff
from portal.core.audit import AuditLog
from portal.core.redis_conn import get_queue, get_redis
from portal.core.timeutil import utcnow
from portal.extensions import db, sqlite_begin
from portal.io import background, imports
from portal.io.models import Job
from portal.notify.models import Notification
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_user
from tests.sqlcount import statements

HEADER = ["工号", "姓名", "科室"]
STARTED: list[str] = []
STAFF_BEFORE: list[int] = []


@pytest.fixture
def worker_app(app, monkeypatch):
    """Jobs run against the test application; big means more than 3 rows here."""
    monkeypatch.setitem(app.config, "IMPORT_JOB_ROWS", 3)
    monkeypatch.setattr(jobs, "_app", app)
    yield app
    with app.app_context():  # the Redis server may be shared: remove this test's files only
        while STARTED:
            get_redis().delete(background._key("import", STARTED.pop()) + ":file")


def drain() -> None:
    queue = get_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def staff_rows(count: int, prefix: str = "Q") -> list[list]:
    return [HEADER] + [[f"{prefix}{n:05d}", f"批量{n}", "心内科"] for n in range(1, count + 1)]


def job_id_of(response) -> str:
    assert response.status_code == 303, text_of(response)[:300]
    match = re.fullmatch(r"/imports/jobs/([0-9a-f]{32})", response.headers["Location"])
    assert match, response.headers["Location"]
    STARTED.append(match.group(1))
    return match.group(1)


def send(client, content: bytes, name: str = "人员.xlsx"):
    return client.submit("/imports/staff/preview", {"file": (io.BytesIO(content), name)},
                         content_type="multipart/form-data")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- item: caps and thresholds, lookups in bulk, previews as jobs ---

def test_every_import_type_has_a_job_threshold_below_its_cap(app):
    default = app.config["IMPORT_JOB_ROWS"]
    assert set(imports.TYPES) >= {"staff", "cm_plan", "cm_enrolment"}
    for import_type in imports.TYPES.values():
        threshold = import_type.job_threshold(default)
        assert 0 < threshold < import_type.max_rows, import_type.code
    plan = imports.TYPES["cm_plan"]
    assert plan.max_rows == 3000 and plan.job_threshold(default) == 1000  # the 3,000-row plan can run as a job
    with pytest.raises(ValueError, match="job_rows"):
        imports.register(dataclasses.replace(STAFF_IMPORT, code="bad_threshold", job_rows=20_000))
    assert "bad_threshold" not in imports.TYPES


def test_a_file_over_the_cap_is_refused_before_any_cell_is_parsed(session, tree, monkeypatch):
    monkeypatch.setitem(imports.TYPES, "staff", dataclasses.replace(STAFF_IMPORT, max_rows=5))

    def never(*args, **kwargs):
        raise AssertionError("rows were parsed")

    monkeypatch.setattr(imports, "read_sheet", never)
    with pytest.raises(imports.ServiceError, match="数据共 6 行，超过 5 行"):
        imports.preview("staff", "大.xlsx", xlsx_bytes(staff_rows(6)))


def test_a_sheet_recorded_far_beyond_the_cap_is_refused_without_counting_its_rows(client, tree, monkeypatch):
    from openpyxl import Workbook
    from openpyxl.styles import Font

    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    wb = Workbook()
    for row in staff_rows(3):
        wb.active.append(row)
    wb.active.cell(row=500_000, column=1).font = Font(bold=True)  # one styled, empty cell far below
    buffer = io.BytesIO()
    wb.save(buffer)

    def never(*args, **kwargs):
        raise AssertionError("rows were counted")

    monkeypatch.setattr(imports, "count_rows", never)
    refused = send(client, buffer.getvalue())
    assert refused.status_code == 422 and "工作表范围达 500000 行，超过 20000 行" in text_of(refused)


def test_lookups_and_existing_records_cost_the_same_few_queries_for_any_number_of_rows(session, tree):
    def queries(rows: int) -> int:
        content = xlsx_bytes(staff_rows(rows))
        with statements(db.session.connection()) as seen:
            result = imports.preview("staff", "a.xlsx", content)
        assert result.counts["new"] == rows
        return len(seen)

    assert queries(400) == queries(20) <= 3


def test_a_big_preview_runs_as_a_job_and_shows_the_preview_when_done(worker_app, client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    content = xlsx_bytes([*staff_rows(4), ["Q00001", "重复", "心内科"]])
    job_id = job_id_of(send(client, content))
    queued = client.get(f"/imports/jobs/{job_id}")
    assert "后台导入检查" in text_of(queued) and 'hx-trigger="every 1s"' in queued.get_data(as_text=True)
    drain()
    done = client.htmx_get(f"/imports/jobs/{job_id}")
    page = text_of(done)
    assert 'data-state="done"' in done.get_data(as_text=True) and "检查完成" in page
    assert "文件内重复" in page and "与第 2 行重复" in page and "确认导入" not in page
    # The error report was written by the job: the download does not read the file again.
    sha = hashlib.sha256(content).hexdigest()
    report = client.get(f"/imports/staff/errors/{sha}")
    assert report.status_code == 200 and report.data[:2] == b"PK"
    assert db.session.get(Job, job_id).kind == "preview"


# --- item: the write lock only for the writing ---

def test_preview_reads_without_the_write_lock_and_commit_takes_it_only_to_write(client, tree, monkeypatch):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    seen: dict[str, str] = {}
    original_preview, original_write = imports.preview, STAFF_IMPORT.write_many

    def spy_preview(*args, **kwargs):
        seen.setdefault("preview", sqlite_begin.get())
        return original_preview(*args, **kwargs)

    def spy_write(*args, **kwargs):
        seen["write"] = sqlite_begin.get()
        return original_write(*args, **kwargs)

    monkeypatch.setattr(imports, "preview", spy_preview)
    monkeypatch.setitem(imports.TYPES, "staff", dataclasses.replace(STAFF_IMPORT, write_many=spy_write))
    content = xlsx_bytes(staff_rows(2))
    assert send(client, content).status_code == 200
    assert seen == {"preview": "BEGIN"}
    seen.clear()
    done = client.submit("/imports/staff/commit", {"sha256": hashlib.sha256(content).hexdigest(), "mode": "upsert"})
    assert done.status_code == 303
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    assert seen == {"preview": "BEGIN", "write": "BEGIN IMMEDIATE" if sqlite else "BEGIN"}


# --- item: bulk writes, one audit record ---

@pytest.mark.parametrize("size", [500, 1200])  # known staff asked for by number, or read in one pass
def test_a_staff_import_writes_in_bulk_with_one_audit_record_listing_the_keys(session, tree, size):
    existing = Staff(employee_no="q00002", name="旧名", department_id=tree.surgery.id)
    db.session.add(existing)
    db.session.commit()
    audits_before = count(AuditLog)
    rows = staff_rows(size)
    rows[2][1] = "新名"
    with statements(db.session.connection()) as seen:
        log = imports.commit("staff", "批量.xlsx", xlsx_bytes(rows), "upsert", user_id=None)
    db.session.commit()
    assert (log.rows_new, log.rows_updated, log.rows_unchanged) == (size - 1, 1, 0)
    inserts = [s for s in seen if s.startswith(("INSERT INTO staff", "COPY staff"))]
    assert 1 <= len(inserts) <= 5  # executemany batches (SQLite) or COPY (PostgreSQL), not one statement per row
    assert len(seen) <= 25, seen
    assert count(AuditLog) == audits_before + 1
    record = db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert record.entity_type == "import_log" and record.changes["keys"]["after"]["updated"] == ["Q00002"]
    assert len(record.changes["keys"]["after"]["new"]) == size - 1
    db.session.refresh(existing)
    assert (existing.name, existing.department_id, existing.employee_no) == ("新名", tree.cardiology.id, "q00002")
    assert count(Staff) == size


def test_employee_numbers_compare_without_spaces_width_or_case(session, tree):
    content = xlsx_bytes([HEADER, ["Ａ１００１", "甲", "心内科"], [" a 1001", "乙", "心内科"], ["b2", "丙", "心内科"]])
    result = imports.preview("staff", "a.xlsx", content)
    assert result.first_errors() == [(3, "工号", "A1001", "与第 2 行重复")]
    imports.commit("staff", "b.xlsx", xlsx_bytes([HEADER, ["ｂ２", "丙", "心内科"]]), "upsert", user_id=None)
    assert db.session.scalars(select(Staff.employee_no).where(Staff.name == "丙")).all() == ["B2"]


# --- item: a killed worker ---

def stalled_import(client, tree) -> tuple[str, object]:
    root = make_user("root", ["sysadmin"], tree.hospital)
    STAFF_BEFORE[:] = [count(Staff)]
    client.login("root")
    content = xlsx_bytes(staff_rows(4, "K"))
    preview_job = job_id_of(send(client, content))
    drain()
    assert db.session.get(Job, preview_job).state == "done"
    job_id = job_id_of(client.submit("/imports/staff/commit", {"sha256": hashlib.sha256(content).hexdigest(),
                                                               "mode": "upsert"}))
    # What a work-horse killed mid-import leaves behind: "running", and a heartbeat that stopped.
    get_queue().empty()
    background._update(db.session.get(Job, job_id), state="running", stage="check", done=2,
                       heartbeat_at=utcnow() - timedelta(minutes=5))
    return job_id, root


def test_the_sweep_fails_a_job_whose_heartbeat_stopped_tells_the_user_and_the_retry_imports(
        worker_app, client, tree):
    job_id, root = stalled_import(client, tree)
    fresh = background._new("import", user_id=root.id, title="人员档案", code="staff", filename="新.xlsx")
    fresh.state, fresh.heartbeat_at = "running", utcnow()
    db.session.add(fresh)
    db.session.commit()
    assert background.sweep_stalled() == 1
    db.session.commit()
    job = db.session.get(Job, job_id)
    assert job.state == "failed" and "停止响应" in job.message and job.finished_at is not None
    assert db.session.get(Job, fresh.id).state == "running"  # its heartbeat is recent
    note = db.session.scalars(select(Notification).where(Notification.user_id == root.id)
                              .order_by(Notification.id.desc())).first()
    assert note.title == "导入失败：人员档案" and note.link == f"/imports/jobs/{job_id}"
    assert background.sweep_stalled() == 0  # told once

    page = client.get(f"/imports/jobs/{job_id}")
    assert "导入失败" in text_of(page) and "用同一文件重试" in text_of(page)
    again = job_id_of(client.submit(f"/imports/jobs/{job_id}/retry"))
    assert again != job_id and db.session.get(Job, again).retry_of == job_id
    drain()
    assert db.session.get(Job, again).state == "done" and count(Staff) == STAFF_BEFORE[0] + 4
    # The history is the database's: it outlives the files and states kept in Redis.
    get_redis().delete(background._key("import", job_id) + ":file")
    start = text_of(client.get("/imports/staff"))
    assert "我的后台任务" in start and "停止响应" in start and "已完成" in start


def test_the_page_poll_sweeps_too_and_a_lost_file_asks_for_a_new_upload(worker_app, client, tree):
    job_id, _ = stalled_import(client, tree)
    get_redis().delete(background._key("import", job_id) + ":file")  # what the 24-hour TTL does
    poll = client.htmx_get(f"/imports/jobs/{job_id}")
    html = poll.get_data(as_text=True)
    assert 'data-state="failed"' in html and "hx-trigger" not in html
    assert "原上传文件已不在服务器上" in text_of(poll) and "用同一文件重试" not in text_of(poll)
    refused = client.submit(f"/imports/jobs/{job_id}/retry")
    assert refused.status_code == 410 and "请重新上传文件" in text_of(refused)
    assert count(Notification) >= 1 and count(Staff) == STAFF_BEFORE[0]
    make_user("other", ["sysadmin"], tree.hospital)
    client.login("other")
    assert client.submit(f"/imports/jobs/{job_id}/retry").status_code == 404  # only its owner retries


def test_a_job_the_sweep_gave_up_never_writes_afterwards(worker_app, client, tree, monkeypatch):
    job_id, root = stalled_import(client, tree)
    background._update(db.session.get(Job, job_id), state="queued")
    original = imports.write_lock

    @contextlib.contextmanager
    def stalled_before_the_lock():
        # The worker stalls after checking the file; the sweep gives the job up; then it wakes and writes.
        background._update(db.session.get(Job, job_id), heartbeat_at=utcnow() - timedelta(minutes=5))
        assert background.sweep_stalled(job_id) == 1
        db.session.commit()
        with original():
            yield

    monkeypatch.setattr(imports, "write_lock", stalled_before_the_lock)
    assert background.run_import(job_id)["state"] == "failed"
    assert count(Staff) == STAFF_BEFORE[0] and db.session.get(Job, job_id).state == "failed"
    notes = db.session.scalars(select(Notification).where(Notification.user_id == root.id,
                                                          Notification.title.like("导入失败%"))).all()
    assert len(notes) == 1


def test_the_sweep_is_scheduled_every_minute():
    registered = []

    class Cron:
        def register(self, function, queue_name, **kwargs):
            registered.append((function.__name__, kwargs))

    schedule.register_all(Cron(), "q")
    assert ("sweep_jobs", {"interval": 60, "name": "sweep_jobs"}) in registered
