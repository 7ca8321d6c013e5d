"""Privilege checks after the fact: violations found set-based on every surgery write (grade coverage, restricted
entries need their own privilege, expired / suspended / none), overlaps and planned-vs-actual; idempotent
re-import; a correction re-evaluates; one risk alert per surgeon and day; the first case of a restricted entry
opens its filing; handling (explained, emergency, supervision finding), audited and scoped; outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from portal.catalogue.models import RestrictedFiling
from portal.core.audit import AuditLog
from portal.core.timeutil import LOCAL_TZ, local_today
from portal.credentials.models import Privilege, PrivilegeOverride
from portal.extensions import db
from portal.notify.models import Notification
from portal.quality.models import PRIVILEGE_REASONS, QualityRiskAlert, QualityViolation, Surgery
from portal.quality.outcomes.queries import surgeon_outcomes
from portal.quality.violations import detect
from portal.supervision.models import Finding
from tests import quality_factories as qf
from tests.conftest import text_of
from tests.factories import make_user
from tests.privilege_factories import grant, make_tech

DAY = local_today() - timedelta(days=10)


def at(hour: int, minute: int = 0, day=None) -> datetime:
    d = day or DAY
    return datetime(d.year, d.month, d.day, hour, minute)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def found() -> dict[tuple[str, str], str]:
    return {(rid, v.kind): v.reason for v, rid in db.session.execute(
        select(QualityViolation, Surgery.record_id).join(Surgery, Surgery.id == QualityViolation.surgery_id))}


@pytest.fixture
def world(tree):
    make_tech("V-3", 3)
    make_tech("V-4", 4)
    make_tech("V-R", 2, restricted=True)
    people = {k: qf.make_surgeon(tree.surgery, f"医生{k}", f"VS{k}") for k in "ABCDE"}
    grant(people["A"], grade=3)
    grant(people["B"], grade=4, start=DAY - timedelta(days=400), end=DAY - timedelta(days=5))
    suspended = grant(people["C"], grade=4)
    db.session.execute(update(Privilege).where(Privilege.id == suspended.id).values(status="suspended"))
    grant(people["E"], grade=4)
    grant(people["E"], tech="V-R")
    db.session.commit()
    users = {"ma": make_user("v_ma", ["ma_staff"], tree.hospital, name="医务"),
             "head": make_user("v_head", ["dept_head"], tree.surgery, name="普外主任"),
             "ortho": make_user("v_ortho", ["dept_head"], tree.orthopaedics, name="骨科主任")}
    return tree, people, users


def rows(tree, p, **changes):
    base = [
        qf.surgery("VA1", "D1", tree.surgery, p["A"], "V-3", at(8), ended_at=at(10)),  # covered by grade 3
        qf.surgery("VA2", "D2", tree.surgery, p["A"], "V-4", at(9, 30), ended_at=at(11)),  # grade 4; overlaps VA1
        qf.surgery("VA3", "D3", tree.surgery, p["A"], "V-R", at(13), ended_at=at(14)),  # restricted: own privilege
        qf.surgery("VB1", "D4", tree.surgery, p["B"], "V-3", at(8), ended_at=at(9)),  # expired
        qf.surgery("VC1", "D5", tree.surgery, p["C"], "V-3", at(8), ended_at=at(9)),  # suspended
        qf.surgery("VD1", "D6", tree.surgery, p["D"], "V-3", at(8), ended_at=at(9)),  # none at all
        qf.surgery("VE1", "D7", tree.surgery, p["E"], "V-R", at(8), ended_at=at(9), planned_surgeon_id=p["E"].id),
        qf.surgery("VE2", "D8", tree.surgery, p["E"], "V-4", at(10), ended_at=at(11), planned_surgeon_id=p["A"].id),
    ]
    return [{**r, **changes.get(r["record_id"], {})} for r in base]


def test_detection_on_import_is_idempotent_and_a_correction_re_evaluates(world):
    tree, p, users = world
    qf.save(surgery_rows=rows(tree, p))
    assert found() == {("VA2", "privilege"): "none", ("VA3", "privilege"): "own_only",
                       ("VA1", "overlap"): "", ("VA2", "overlap"): "",
                       ("VB1", "privilege"): "expired", ("VC1", "privilege"): "suspended",
                       ("VD1", "privilege"): "none", ("VE2", "planned"): ""}
    # One alert per surgeon and day, to medical affairs and the department head.
    assert count(QualityRiskAlert) == 5  # A, B, C, D, E on DAY
    notes = db.session.scalars(select(Notification).where(Notification.category == "quality_risk")).all()
    assert len([n for n in notes if n.user_id == users["ma"].id]) == 5
    assert len([n for n in notes if n.user_id == users["head"].id]) == 5
    assert not [n for n in notes if n.user_id == users["ortho"].id]
    alert_a = next(n for n in notes if "医生A" in n.title and n.user_id == users["ma"].id)
    assert "VA1" in alert_a.body and "VA2" in alert_a.body and "VA3" in alert_a.body
    # The first case of the restricted entry opened its filing, from the surgery.
    filing = db.session.scalar(select(RestrictedFiling))
    assert filing.source == "surgery" and filing.first_case_date == DAY
    # Re-importing the same rows: the same violations, no new alert or notification, no second filing.
    before = count(Notification)
    qf.save(surgery_rows=rows(tree, p))
    assert len(found()) == 8 and count(QualityRiskAlert) == 5 and count(Notification) == before
    assert count(RestrictedFiling) == 1
    # Correction: VA2 becomes a grade-3 operation later in the day, no longer overlapping.
    qf.save(surgery_rows=rows(tree, p, VA2={**qf.surgery("VA2", "D2", tree.surgery, p["A"], "V-3", at(15),
                                                          ended_at=at(16))}))
    assert ("VA2", "privilege") not in found() and ("VA1", "overlap") not in found()
    assert ("VA2", "overlap") not in found() and ("VA3", "privilege") in found()


def test_handling_paths_are_audited_and_scoped(world, client):
    tree, p, _users = world
    qf.save(surgery_rows=rows(tree, p))
    ids = {(rid, v.kind): v.id for v, rid in db.session.execute(
        select(QualityViolation, Surgery.record_id).join(Surgery, Surgery.id == QualityViolation.surgery_id))}
    client.login("v_ortho")
    assert client.get(f"/quality/violations/{ids[('VD1', 'privilege')]}").status_code == 404
    assert client.get(f"/quality/violations?department_id={tree.surgery.id}").status_code == 404
    assert "没有符合条件" in text_of(client.get("/quality/violations"))
    client.login("v_head")
    body = text_of(client.get("/quality/violations"))
    assert "医生D" in body and "超权限手术" in body
    # each row: its surgeon (a link to their violations), department, operation and the link that handles it
    html = client.get("/quality/violations").get_data(as_text=True)
    assert f'href="/quality/violations/{ids[("VD1", "privilege")]}"' in html and "VD1" in html
    assert f'href="/quality/violations?status=open&amp;staff_id={p["D"].id}">医生D</a>' in html
    assert "普外科" in body and PRIVILEGE_REASONS["none"] in body
    client.login("v_ma")
    page = client.get(f"/quality/violations?kind=planned&staff_id={p['E'].id}")
    assert "医生E" in text_of(page) and "医生D" not in text_of(page)
    assert client.get("/quality/violations/export?kind=privilege").status_code == 200
    url = f"/quality/violations/{ids[('VD1', 'privilege')]}"
    bad = client.submit(url, {"action": "explained", "note": ""})
    assert bad.status_code == 422
    # Emergency: refused for an elective operation with no emergency override recorded.
    bad = client.submit(url, {"action": "emergency", "note": "急诊"})
    assert bad.status_code == 422 and "紧急授权" in text_of(bad)
    surgery = db.session.scalar(select(Surgery).where(Surgery.record_id == "VD1"))
    override = PrivilegeOverride(staff_id=p["D"].id, technology_id=surgery.technology_id,
                                 performed_at=at(8).replace(tzinfo=LOCAL_TZ), due_at=at(20).replace(tzinfo=LOCAL_TZ),
                                 reason="大出血抢救", status="open")
    db.session.add(override)
    db.session.commit()
    assert "大出血抢救" in text_of(client.get(url))
    assert client.submit(url, {"action": "emergency", "note": "抢救"}).status_code == 303
    v = db.session.get(QualityViolation, ids[("VD1", "privilege")])
    assert v.status == "emergency" and v.override_id == override.id
    assert client.submit(url, {"action": "explained", "note": "再来"}).status_code == 409
    # Explained, and rectification through a supervision finding.
    assert client.submit(f"/quality/violations/{ids[('VE2', 'planned')]}",
                         {"action": "explained", "note": "计划术者临时外出"}).status_code == 303
    url = f"/quality/violations/{ids[('VB1', 'privilege')]}"
    assert client.submit(url, {"action": "rectification", "note": "授权过期仍主刀"}).status_code == 422
    deadline = (local_today() + timedelta(days=14)).isoformat()
    assert client.submit(url, {"action": "rectification", "note": "授权过期仍主刀",
                               "deadline": deadline}).status_code == 303
    v = db.session.get(QualityViolation, ids[("VB1", "privilege")])
    finding = db.session.get(Finding, v.finding_id)
    assert v.status == "rectification" and finding.department_id == tree.surgery.id and "VB1" in finding.description
    assert count(AuditLog, AuditLog.entity_type == "quality_violation", AuditLog.action == "update") == 3
    # A handled violation stays through a re-import; the open list no longer shows it.
    qf.save(surgery_rows=rows(tree, p))
    assert db.session.get(QualityViolation, ids[("VB1", "privilege")]).status == "rectification"
    assert "医生B" not in text_of(client.get("/quality/violations?kind=privilege"))


def test_outcomes_numbers_and_the_flag_rule(world, app):
    tree, p, _ = world
    surgeries, events = [], []
    # A: 10 cases of V-3, 4 with a complication; the department's other surgeon (E): 10 cases, 1 complication.
    for n in range(10):
        day = DAY - timedelta(days=n + 1)
        surgeries.append(qf.surgery(f"OA{n}", f"OD{n}", tree.surgery, p["A"], "V-3", at(8, day=day),
                                    ended_at=at(9, day=day)))
        surgeries.append(qf.surgery(f"OE{n}", f"OF{n}", tree.surgery, p["E"], "V-3", at(8, day=day),
                                    ended_at=at(9, day=day)))
        if n < 4:
            events.append({"surgery_record_id": f"OA{n}", "event_date": day, "name": "出血"})
    events.append({"surgery_record_id": "OE0", "event_date": DAY, "name": "出血"})
    # Another department's surgeon (hospital rate only).
    other = qf.make_surgeon(tree.orthopaedics, "骨科医生", "VO1")
    surgeries += [qf.surgery(f"OO{n}", f"OG{n}", tree.orthopaedics, other, "V-3",
                             at(8, day=DAY - timedelta(days=n + 1))) for n in range(5)]
    ssi = [{"surgery_record_id": "OA0", "event_date": DAY, "name": "切口感染", "ssi_depth": "superficial"}]
    qf.save(surgery_rows=surgeries, event_rows={"complication": events, "ssi": ssi})
    out = surgeon_outcomes(p["A"].id, DAY - timedelta(days=30), DAY)
    row = next(r for r in out.by_technology if r.label == "手术V-3")
    assert row.cases == 10
    assert (row.mine["complication"].events, row.mine["complication"].cases) == (4, 10)
    assert (row.department["complication"].events, row.department["complication"].cases) == (5, 20)
    assert (row.hospital["complication"].events, row.hospital["complication"].cases) == (5, 25)
    assert row.mine["ssi"].events == 1
    # 40% > 2 x 25%? no: not flagged. With a factor of 1.5 it is; SSI has too few events either way.
    assert not row.flags
    app.config["QUALITY_OUTCOME_FACTOR"] = 1.5
    try:
        row = next(r for r in surgeon_outcomes(p["A"].id, DAY - timedelta(days=30), DAY).by_technology
                   if r.label == "手术V-3")
        assert row.flags == {"complication"}
        grade3 = next(r for r in surgeon_outcomes(p["A"].id, DAY - timedelta(days=30), DAY).by_grade
                      if r.label == "三级")
        assert grade3.cases == 10 and "complication" in grade3.flags
    finally:
        app.config.pop("QUALITY_OUTCOME_FACTOR")


def test_set_based_evaluation_over_a_period_matches_the_write_path(world):
    tree, p, _ = world
    qf.save(surgery_rows=rows(tree, p))
    before = found()
    db.session.execute(QualityViolation.__table__.delete())
    detect.evaluate(detect.for_period(DAY, DAY))
    assert found() == before


def test_an_overlap_across_midnight_is_found_and_a_surgeon_change_clears_the_other_side(world):
    tree, p, _ = world
    night = DAY - timedelta(days=3)
    morning = night + timedelta(days=1)
    late = qf.surgery("VN1", "DN1", tree.surgery, p["A"], "V-3", at(23, 0, night), ended_at=at(1, 30, morning))
    early = qf.surgery("VN2", "DN2", tree.surgery, p["A"], "V-3", at(0, 45, morning), ended_at=at(2, 0, morning))
    qf.save(surgery_rows=[late, early])
    assert {k for k in found() if k[1] == "overlap"} == {("VN1", "overlap"), ("VN2", "overlap")}
    # The second operation was in fact done by another surgeon: both sides' overlap goes, not only its own.
    grant(p["D"], grade=3)
    db.session.commit()
    qf.save(surgery_rows=[{**early, "surgeon_id": p["D"].id}])
    assert not {k for k in found() if k[1] == "overlap"}
    # The period evaluation (history, rebuilds) finds the same as the write path.
    qf.save(surgery_rows=[early])
    before = found()
    db.session.execute(QualityViolation.__table__.delete())
    detect.evaluate(detect.for_period(night, night + timedelta(days=1)))
    assert found() == before and ("VN1", "overlap") in before


def test_a_surgery_imported_after_its_surgeons_privilege_was_adjusted_is_judged_by_what_held_that_day(world):
    tree, p, _ = world
    # A's grade-3 privilege is replaced from today by a grade-4 one; last week's operations come in afterwards.
    old = db.session.scalar(select(Privilege).where(Privilege.staff_id == p["A"].id, Privilege.kind == "grade"))
    new = grant(p["A"], grade=4, start=local_today())
    db.session.execute(update(Privilege).where(Privilege.id == old.id)
                       .values(status="superseded", ended_on=local_today()))
    db.session.execute(update(Privilege).where(Privilege.id == new.id).values(supersedes_id=old.id))
    db.session.commit()
    qf.save(surgery_rows=[qf.surgery("VX1", "DX1", tree.surgery, p["A"], "V-3", at(8), ended_at=at(9)),
                          qf.surgery("VX2", "DX2", tree.surgery, p["A"], "V-4", at(10), ended_at=at(11))])
    assert ("VX1", "privilege") not in found()  # grade 3 held on that day
    assert found()[("VX2", "privilege")] == "future"  # grade 4 only from today
