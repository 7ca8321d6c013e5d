"""Rotating the data key: every encrypted value and keyed hash sealed under the new key, nothing lost, the audit
chain intact; refused, with nothing changed, when the settings or the data do not allow it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.api.clients import create_client, rotate_secret, secret_of
from portal.casemgmt.models import Patient, PlanItem
from portal.casemgmt.patients import services as patients
from portal.core import crypto, keyrotation
from portal.core.audit import AuditLog, verify_chain
from portal.core.timeutil import local_today
from portal.extensions import db
from tests import cm_factories as cm

OLD, NEW = "test-data-key", "a-new-data-key-2026"
ID, PHONE = cm.resident_id(811), "13911112222"


@pytest.fixture
def keys(app):
    saved = {k: app.config.get(k) for k in ("DATA_KEY", "DATA_KEY_PREVIOUS", "AUDIT_KEY")}
    yield app.config
    app.config.update(saved)


def stored(patient_id: int) -> tuple:
    return db.session.execute(select(Patient.id_number_enc, Patient.phone_enc, Patient.id_number_hash,
                                     Patient.phone_hash).where(Patient.id == patient_id)).one()


def test_rotation_seals_everything_under_the_new_key(session, keys):
    patient = cm.make_patient("张三丰", id_number=ID, phone=PHONE, hospital_no="Z1001")
    his = create_client(code="HIS", name="医院信息系统")
    secret = rotate_secret(his)
    cm.submit_waiting_items(local_today() + timedelta(days=1))
    before = stored(patient.id)

    keys.update(DATA_KEY=NEW, DATA_KEY_PREVIOUS=(OLD,), AUDIT_KEY=OLD)
    # Meanwhile the former key still opens what it sealed.
    assert crypto.decrypt(before[0]) == ID and secret_of(his) == secret
    report = keyrotation.rotate()
    db.session.commit()
    assert report.rewritten == {"api_clients": 1, "patients": 1, "plan_items": 1}
    assert report.unhashable == {"plan_items.patient_ref_hash": 1}  # the ID number is kept masked only

    keys.update(DATA_KEY_PREVIOUS=())  # the former key is gone: everything opens under the new one alone
    after = stored(patient.id)
    assert all(old != new for old, new in zip(before, after, strict=True))
    assert crypto.decrypt(after[0]) == ID and crypto.decrypt(after[1]) == PHONE
    assert patients.find_by_identity("张三丰", "resident", ID).id == patient.id  # search by the full number
    assert patients.find_by_ref(PHONE) is None and patients.find_by_ref(ID).id == patient.id
    db.session.expire_all()
    assert secret_of(db.session.get(type(his), his.id)) == secret
    # A waiting plan item given a hospital number still finds its patient once registered.
    zhao = cm.make_patient("赵六", id_number=cm.resident_id(601), hospital_no="H601")
    assert db.session.scalar(select(PlanItem.patient_id).where(PlanItem.external_id == "U1")) == zhao.id
    # The audit chain is keyed as before, and the rotation itself is in it.
    assert verify_chain().ok
    record = db.session.scalars(select(AuditLog).where(AuditLog.action == "rotate_key")).one()
    assert record.changes["rows"] == {"api_clients": 1, "patients": 1, "plan_items": 1}

    # Run again (the former key named once more): nothing is left to change.
    keys.update(DATA_KEY_PREVIOUS=(OLD,))
    assert keyrotation.rotate().rewritten == {}


@pytest.mark.parametrize("settings, message", [
    ({"DATA_KEY": NEW, "DATA_KEY_PREVIOUS": (), "AUDIT_KEY": OLD}, "未设置 PORTAL_DATA_KEY_PREVIOUS"),
    ({"DATA_KEY": NEW, "DATA_KEY_PREVIOUS": (OLD,), "AUDIT_KEY": ""}, "未设置 PORTAL_AUDIT_KEY"),
    ({"DATA_KEY": OLD, "DATA_KEY_PREVIOUS": (OLD,), "AUDIT_KEY": OLD}, "密钥相同"),
])
def test_rotation_refuses_settings_that_would_lose_data_or_the_chain(session, keys, settings, message):
    patient = cm.make_patient("张三丰", id_number=ID, phone=PHONE)
    before = stored(patient.id)
    keys.update(settings)
    with pytest.raises(keyrotation.RotationError, match=message):
        keyrotation.rotate()
    db.session.rollback()
    assert stored(patient.id) == before


def test_a_value_no_key_opens_stops_the_rotation_before_anything_is_written(session, keys):
    first = cm.make_patient("张三丰", id_number=ID, phone=PHONE)
    keys.update(DATA_KEY="some-other-key")
    stray = cm.make_patient("李四光", id_number=cm.resident_id(812), phone=None)  # sealed under a key now lost
    keys.update(DATA_KEY=NEW, DATA_KEY_PREVIOUS=(OLD,), AUDIT_KEY=OLD)
    before = [stored(first.id), stored(stray.id)]
    with pytest.raises(keyrotation.RotationError, match=f"patients #{stray.id} id_number_enc"):
        keyrotation.rotate()
    db.session.rollback()
    assert [stored(first.id), stored(stray.id)] == before
