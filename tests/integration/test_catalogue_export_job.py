"""A big catalogue export runs as a job that rebuilds the list's own filters (application threshold: 3 rows)."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from rq import SimpleWorker

import jobs
from portal.catalogue.technologies import services as catalogue
from portal.core.redis_conn import get_queue, get_redis
from portal.extensions import db
from portal.io import background
from tests import factories
from tests.conftest import PortalClient, build_app, rolled_back, text_of


@pytest.fixture
def export_app(database_url, redis_server, tmp_path, monkeypatch):
    app = build_app(database_url, redis_server, tmp_path / "instance", EXPORT_JOB_ROWS=3)
    app.test_client_class = PortalClient
    monkeypatch.setattr(jobs, "_app", app)
    started: list[str] = []
    try:
        with rolled_back(app):
            yield app, started
            for job_id in started:  # the Redis server may be shared: remove this test's job keys only
                key = background._key("export", job_id)
                get_redis().delete(key, key + ":file")
    finally:
        app.extensions["db.engine"].dispose()
        app.extensions["redis"].close()


def test_a_big_filtered_export_is_a_job_with_the_same_rows(export_app):
    app, started = export_app
    tree = factories.make_tree()
    factories.make_user("ma_exp", ["ma_staff"], tree.hospital)
    for n in range(6):
        catalogue.create_technology({"code": f"EX{n}", "name": f"术式{n}", "category": "surgery",
                                     "grade": 4 if n < 5 else 2}, [tree.surgery.id], reason="新增")
    db.session.commit()
    client = app.test_client()
    client.login("ma_exp")
    response = client.get("/catalogue/technologies/export?grade=4&sort=-code")
    assert response.status_code == 303, text_of(response)[:300]
    job_id = re.fullmatch(r"/exports/([0-9a-f]{32})", response.headers["Location"]).group(1)
    started.append(job_id)
    queue = get_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    download = client.get(f"/exports/{job_id}")
    assert download.status_code == 200
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(download.data)).active.iter_rows()]
    assert "等级：四级" in str(rows[1][0])
    assert [r[0] for r in rows[3:]] == ["EX4", "EX3", "EX2", "EX1", "EX0"]


def test_a_big_dictionary_is_previewed_and_imported_by_jobs(app, session, monkeypatch):
    """More than 3 rows: the preview job keeps the changed fields; the import job writes the revisions."""
    import hashlib

    from sqlalchemy import select

    from portal.catalogue.models import Technology, TechnologyRevision
    from tests.conftest import xlsx_bytes

    monkeypatch.setitem(app.config, "IMPORT_JOB_ROWS", 3)
    monkeypatch.setattr(jobs, "_app", app)
    tree = factories.make_tree()
    factories.make_user("ma_big", ["ma_staff"], tree.hospital)
    catalogue.create_technology({"code": "BG0", "name": "旧名", "category": "surgery", "grade": 2}, [],
                                reason="新增")
    db.session.commit()
    rows = [["院内编码", "名称", "类别", "等级", "可开展科室"]] + [
        [f"BG{n}", f"术式{n}", "手术", "三级", tree.surgery.code] for n in range(6)]
    content = xlsx_bytes(rows)
    client = app.test_client()
    client.login("ma_big")
    started = []
    queue = get_queue()
    try:
        page = client.submit("/imports/technology/preview", {"file": (io.BytesIO(content), "大字典.xlsx")},
                             content_type="multipart/form-data")
        assert page.status_code == 303, text_of(page)[:300]
        started.append(page.headers["Location"].rsplit("/", 1)[1])
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        preview = text_of(client.get(page.headers["Location"]))
        assert "将修改的记录" in preview and "BG0 名称、手术等级、可开展科室" in preview
        committed = client.submit("/imports/technology/commit", {"sha256": hashlib.sha256(content).hexdigest(),
                                                                 "mode": "upsert"})
        assert committed.status_code == 303, text_of(committed)[:300]
        started.append(committed.headers["Location"].rsplit("/", 1)[1])
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        assert db.session.scalar(select(Technology.revision).where(Technology.code == "BG0")) == 2
        assert len(db.session.scalars(select(TechnologyRevision.id)).all()) == 7
    finally:
        for job_id in started:
            get_redis().delete(background._key("import", job_id) + ":file")
