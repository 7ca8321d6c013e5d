"""Concurrent evaluation on real connections: two workers evaluating the same surgeries at once write each
violation once and send one risk alert per surgeon and day."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.core.timeutil import local_today
from portal.extensions import db, sqlite_begin
from portal.notify.models import Notification
from portal.quality.models import QualityRiskAlert, QualityViolation, Surgery
from portal.quality.violations import detect
from tests import factories
from tests import quality_factories as qf
from tests.conftest import workers
from tests.privilege_factories import make_tech


@pytest.fixture(scope="module")
def apps(tmp_root, redis_server):
    with workers(tmp_root, redis_server, "viol_live") as (first, second):
        with second.app_context():
            tree = factories.make_tree()
            surgeon = qf.make_surgeon(tree.surgery, "并发医生", "VL001")
            factories.make_user("vl_ma", ["ma_staff"], tree.hospital, name="医务")
            make_tech("VL-3", 3)
            day = local_today() - timedelta(days=2)
            rows = [qf.surgery(f"VL{n}", f"DL{n}", tree.surgery, surgeon, "VL-3",
                               datetime(day.year, day.month, day.day, 8 + n)) for n in range(3)]
            qf.save(surgery_rows=rows)
            # Start again from no violations and no alert, so the workers race for them.
            db.session.execute(QualityViolation.__table__.delete())
            db.session.execute(QualityRiskAlert.__table__.delete())
            db.session.execute(Notification.__table__.delete().where(Notification.category == "quality_risk"))
            db.session.commit()
        yield first, second, day


def test_concurrent_evaluations_notify_once_per_surgeon_and_day(apps):
    first, second, _day = apps
    barrier = threading.Barrier(4)
    errors = []

    def run(app):
        sqlite_begin.set("BEGIN IMMEDIATE")  # as a job or a writing request begins (SQLite: the write lock first)
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                ids = db.session.scalars(select(Surgery.id)).all()
                detect.evaluate_ids(ids)
                db.session.commit()
        except Exception as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=run, args=((first, second)[n % 2],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with first.app_context():
        assert db.session.scalar(select(func.count()).select_from(QualityViolation)) == 3
        assert db.session.scalar(select(func.count()).select_from(QualityRiskAlert)) == 1
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.category == "quality_risk")) == 1
