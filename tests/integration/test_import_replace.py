"""Replacing a period: a confirmation states the range and how many records go, and only then deletes and reloads.

The import type here exists only in this module: supervision findings by department, title and deadline,
the deadline being the period column.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date
from typing import Any

import pytest
from rq import SimpleWorker
from sqlalchemy import delete, func, select

import jobs
from portal.core.redis_conn import get_queue, get_redis
from portal.core.service import ServiceError
from portal.extensions import db
from portal.io import background, imports
from portal.io.columns import ImportColumn
from portal.io.models import ImportLog
from portal.supervision import services as supervision
from portal.supervision.models import Finding
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_user

HEADER = ["科室", "问题", "问题描述", "整改期限"]


def _in_period(start: date, end: date):
    return Finding.deadline.between(start, end)


def _find(keys: list[tuple]) -> dict[tuple, Finding]:
    titles = {k[1] for k in keys}
    return {(f.department_id, f.title): f
            for f in db.session.scalars(select(Finding).where(Finding.title.in_(titles)))}


def _write(values: dict[str, Any], existing: Finding | None) -> bool:
    if existing is None:
        db.session.add(Finding(department_id=values["department_id"], title=values["title"],
                               description=values.get("description") or "", deadline=values["deadline"]))
        return True
    if (existing.description, existing.deadline) == (values.get("description") or "", values["deadline"]):
        return False
    existing.description, existing.deadline = values.get("description") or "", values["deadline"]
    return True


def _delete_period(start: date, end: date) -> int:
    return db.session.execute(delete(Finding).where(_in_period(start, end))).rowcount


def _count_period(start: date, end: date) -> int:
    return db.session.scalar(select(func.count()).select_from(Finding).where(_in_period(start, end)))


FINDINGS = imports.ImportType(
    code="test_findings", label="督导问题（测试）", key=("department_id", "title"), find_existing=_find,
    write_row=_write, delete_period=_delete_period, count_period=_count_period, period_column="deadline",
    columns=[ImportColumn("department_id", "科室", kind="department", required=True),
             ImportColumn("title", "问题", required=True),
             ImportColumn("description", "问题描述", max_length=2000),
             ImportColumn("deadline", "整改期限", kind="date", required=True)])


@pytest.fixture
def world(client, tree, monkeypatch):
    monkeypatch.setitem(imports.TYPES, FINDINGS.code, FINDINGS)
    make_user("root", ["sysadmin"], tree.hospital)
    for title, day in (("一月上旬", date(2027, 1, 10)), ("一月下旬", date(2027, 1, 20)), ("二月", date(2027, 2, 5))):
        supervision.issue_finding(department_id=tree.cardiology.id, title=title, description="原有", deadline=day)
    db.session.commit()
    client.login("root")
    return tree


def titles() -> list[str]:
    return sorted(db.session.scalars(select(Finding.title)))


FILE = xlsx_bytes([HEADER, ["心内科", "一月上旬", "改过的描述", "2027-01-05"],
                   ["心内科", "一月新问题", "新的", "2027年1月25日"]])
SHA = hashlib.sha256(FILE).hexdigest()


def preview(client, content: bytes = FILE, code: str = "test_findings"):
    return client.submit(f"/imports/{code}/preview", {"file": (io.BytesIO(content), "督导.xlsx")},
                         content_type="multipart/form-data")


def test_preview_offers_replace_only_for_types_that_can_delete_a_period(world, client):
    assert 'value="replace"' in preview(client).get_data(as_text=True)
    staff = preview(client, xlsx_bytes([["工号", "姓名", "科室"], ["R001", "甲", "心内科"]]), "staff")
    assert staff.status_code == 200 and 'value="replace"' not in staff.get_data(as_text=True)


def test_replace_is_refused_for_a_type_without_delete_period(world, client):
    content = xlsx_bytes([["工号", "姓名", "科室"], ["R001", "甲", "心内科"]])
    preview(client, content, "staff")
    refused = client.submit("/imports/staff/commit", {"sha256": hashlib.sha256(content).hexdigest(),
                                                      "mode": "replace", "confirmed": "1"})
    assert refused.status_code == 422 and "该导入类型不支持“替换该期间的数据”" in text_of(refused)
    with pytest.raises(ServiceError, match="不支持"):
        imports.commit("staff", "a.xlsx", content, "replace", user_id=None, period=(date(2027, 1, 1), date(2027, 1, 2)))


def test_confirmation_states_the_range_and_count_then_replaces(world, client):
    preview(client)
    page = client.submit("/imports/test_findings/commit", {"sha256": SHA, "mode": "replace"})
    shown = text_of(page)
    assert page.status_code == 200 and "确认替换" in shown
    assert "2027-01-05 至 2027-01-25" in shown  # the file's first and last deadline
    assert re.search(r'data-testid="replace-count">2<', page.get_data(as_text=True))  # 一月上旬, 一月下旬
    assert 'name="counted" value="2027-01-05..2027-01-25"' in page.get_data(as_text=True)
    assert titles() == ["一月上旬", "一月下旬", "二月"]  # nothing deleted yet

    done = client.submit("/imports/test_findings/commit", {"sha256": SHA, "mode": "replace", "start": "2027-01-05",
                                                           "end": "2027-01-25", "counted": "2027-01-05..2027-01-25",
                                                           "confirmed": "1"})
    assert done.status_code == 303
    assert titles() == ["一月上旬", "一月新问题", "二月"]
    replaced = db.session.scalar(select(Finding).where(Finding.title == "一月上旬"))
    assert (replaced.description, replaced.deadline) == ("改过的描述", date(2027, 1, 5))
    log = db.session.scalars(select(ImportLog).order_by(ImportLog.id.desc())).first()
    assert (log.mode, log.rows_deleted, log.rows_new, log.rows_updated) == ("replace", 2, 2, 0)
    assert "删除 2 条" in text_of(client.get("/imports/test_findings"))


def test_a_chosen_period_is_counted_again_before_it_can_be_confirmed(world, client):
    preview(client)
    wider = {"sha256": SHA, "mode": "replace", "start": "2027-01-01", "end": "2027-02-28"}
    # Confirming a period other than the one whose count was shown only shows the new count.
    changed = client.submit("/imports/test_findings/commit",
                            {**wider, "counted": "2027-01-05..2027-01-25", "confirmed": "1"})
    assert changed.status_code == 200 and "期间已更改" in text_of(changed)
    assert re.search(r'data-testid="replace-count">3<', changed.get_data(as_text=True))
    assert titles() == ["一月上旬", "一月下旬", "二月"]
    done = client.submit("/imports/test_findings/commit",
                         {**wider, "counted": "2027-01-01..2027-02-28", "confirmed": "1"})
    assert done.status_code == 303 and titles() == ["一月上旬", "一月新问题"]


@pytest.mark.parametrize(("start", "end", "phrase"), [
    ("2027-01-10", "2027-01-25", "所选期间必须包含文件中的全部日期（2027-01-05 至 2027-01-25）"),
    ("2027-02-01", "2027-01-01", "开始日期不能晚于结束日期"),
    ("2027-13-01", "2027-01-25", "格式不正确"),
    ("2027-01-01", "", "请同时填写开始日期和结束日期"),
])
def test_bad_periods_are_refused_in_chinese_and_delete_nothing(world, client, start, end, phrase):
    preview(client)
    refused = client.submit("/imports/test_findings/commit", {"sha256": SHA, "mode": "replace", "start": start,
                                                              "end": end, "counted": f"{start}..{end}",
                                                              "confirmed": "1"})
    assert refused.status_code == 422 and phrase in text_of(refused)
    assert titles() == ["一月上旬", "一月下旬", "二月"]


def test_commit_refuses_rows_outside_the_period(world):
    with pytest.raises(ServiceError, match="第 3 行的整改期限 2027-01-25 不在替换期间"):
        imports.commit("test_findings", "a.xlsx", FILE, "replace", user_id=None,
                       period=(date(2027, 1, 1), date(2027, 1, 20)))
    assert titles() == ["一月上旬", "一月下旬", "二月"]


def test_a_big_replace_runs_as_a_job_with_its_period(world, client, app, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_JOB_ROWS", 1)
    monkeypatch.setattr(jobs, "_app", app)
    preview(client)
    started = client.submit("/imports/test_findings/commit", {"sha256": SHA, "mode": "replace", "start": "2027-01-05",
                                                              "end": "2027-01-25", "counted": "2027-01-05..2027-01-25",
                                                              "confirmed": "1"})
    assert started.status_code == 303 and started.headers["Location"].startswith("/imports/jobs/")
    page = text_of(client.get(started.headers["Location"]))
    assert "替换该期间的数据（2027-01-05 至 2027-01-25）" in page
    assert titles() == ["一月上旬", "一月下旬", "二月"]
    queue = get_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert titles() == ["一月上旬", "一月新问题", "二月"]
    job = background.load("import", started.headers["Location"].rsplit("/", 1)[1])
    assert job.state == "done" and "删除 2 条" in job.message
    get_redis().delete(background._key("import", job.id))  # the Redis server may be shared
