"""The demo hospital's quality data: five months in which every indicator has a numerator and a denominator."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from portal.core.domains import build_demo
from portal.core.months import month_bounds
from portal.extensions import db
from portal.quality import summary
from portal.quality.indicators.definitions import COUNTS, INDICATORS, raw_counts
from portal.quality.models import QualityEvent, QualityMonth
from tests.conftest import text_of


def test_demo_data_gives_every_indicator_real_numbers(session, client):
    demo = build_demo()
    db.session.commit()
    months = sorted(db.session.scalars(select(QualityMonth.month).distinct()))
    assert len(months) >= 5
    start, end = months[0], month_bounds(months[-1])[1]
    totals = dict.fromkeys(COUNTS, 0)
    for counts in raw_counts(start, end).values():
        for key, value in counts.items():
            totals[key] += value
    for indicator in INDICATORS:
        assert totals[indicator.numerator] > 0 and totals[indicator.denominator] > 0, indicator.key
    stored = {(r.month, r.department_id): tuple(getattr(r, k) for k in COUNTS)
              for r in db.session.scalars(select(QualityMonth)) if r.discharges}
    summary.rebuild()
    assert stored == {(r.month, r.department_id): tuple(getattr(r, k) for k in COUNTS)
                      for r in db.session.scalars(select(QualityMonth)) if r.discharges}
    assert db.session.scalar(select(func.count()).select_from(QualityEvent)
                             .where(QualityEvent.status == "unmatched")) == 2
    client.login("yiwu2", demo.password or demo.logins["yiwu2"])
    page = client.get(f"/quality/indicators?period={months[-2]:%Y-%m}")
    assert page.status_code == 200 and "出院患者四级手术比例" in text_of(page)
    assert date(2000, 1, 1) < months[0]


def test_demo_surgeries_include_a_few_violations_and_overlaps(session):
    from portal.quality.models import QualityRiskAlert, QualityViolation, Surgery

    build_demo()
    db.session.commit()
    by_kind = dict(db.session.execute(select(QualityViolation.kind, func.count())
                                      .group_by(QualityViolation.kind)).all())
    surgeries = db.session.scalar(select(func.count()).select_from(Surgery))
    print("demo violations", by_kind, "surgeries", surgeries,
          "alerts", db.session.scalar(select(func.count()).select_from(QualityRiskAlert)))
    assert by_kind.get("overlap", 0) >= 2 and by_kind.get("planned", 0) >= 2 and by_kind.get("privilege", 0) >= 2
    assert sum(by_kind.values()) < surgeries * 0.1  # a few, not the whole demo
