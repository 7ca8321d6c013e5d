"""Which patients a case manager sees through their tasks: assigning, reassigning, reopening and removing tasks, and
changing the enrolment, show on the next request in the list, search, export and the patient's own pages; the
(case manager, patient) pairs the task table's triggers keep always equal the tasks themselves."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, func, select, update

from portal.casemgmt.models import CareTask, CareTaskPatient, Patient
from portal.casemgmt.patients import services as patients
from portal.casemgmt.tasks import services as tasks
from portal.core.timeutil import local_today
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user


@pytest.fixture
def w(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    other = cm.make_ward("骨科病区", tree.orthopaedics)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.orthopaedics, "王个管")
    zhao = cm.make_case_manager("cm_zhao", tree.orthopaedics, "赵个管")
    boss = make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="周组长")
    patient = cm.make_patient("张三丰", hospital_no="Z1001")
    cm.enrol(patient, case_manager=li, ward=ward)
    theirs = cm.make_patient("孙悟空", id_number=cm.resident_id(902), hospital_no="Z2002")
    cm.enrol(theirs, case_manager=zhao, ward=other)
    return SimpleNamespace(ward=ward, other=other, li=li, wang=wang, zhao=zhao, boss=boss, patient=patient,
                           theirs=theirs)


def add_task(patient, manager, day=None) -> CareTask:
    day = day or local_today()
    enrolment = patient.active_enrolment
    task = CareTask(due_date=day, first_due_date=day, case_manager_id=manager.id if manager else None,
                    patient_id=patient.id, enrolment_id=enrolment.id, source="plan", task_type="phone_followup",
                    title="出院后电话随访", ward_id=enrolment.ward_id)
    db.session.add(task)
    db.session.commit()
    return task


def fresh(task: CareTask) -> CareTask:
    return db.session.get(CareTask, task.id)  # each request ends the test's session


def active_enrolment(patient):
    return db.session.get(Patient, patient.id).active_enrolment


def sees(client, patient) -> dict[str, bool]:
    """Every place that shows a patient, as the signed-in case manager, on a fresh request each."""
    name = "张*丰" if patient.name == "张三丰" else "孙*空"
    return {"list": name in text_of(client.get("/casemgmt/patients")),
            "list partial": name in client.htmx_get("/casemgmt/patients").get_data(as_text=True),
            "search": name in text_of(client.get(f"/casemgmt/patients?q={patient.hospital_no}")),
            "detail": client.get(f"/casemgmt/patients/{patient.id}").status_code == 200,
            "edit": client.get(f"/casemgmt/patients/{patient.id}/edit").status_code == 200}


def everywhere(client, patient) -> bool:
    seen = sees(client, patient)
    assert len(set(seen.values())) == 1, seen  # one rule: every place agrees
    return next(iter(seen.values()))


def pairs() -> dict[tuple[int, int], int]:
    return {(r.case_manager_id, r.patient_id): r.tasks for r in db.session.scalars(select(CareTaskPatient))}


def pairs_from_tasks() -> dict[tuple[int, int], int]:
    rows = db.session.execute(select(CareTask.case_manager_id, CareTask.patient_id, func.count())
                              .where(CareTask.case_manager_id.is_not(None))
                              .group_by(CareTask.case_manager_id, CareTask.patient_id)).all()
    return {(m, p): n for m, p, n in rows}


def test_a_task_shows_its_patient_until_reassigned_and_reopening_shows_it_again(client, w):
    client.login("cm_wang")
    assert not everywhere(client, w.patient)  # neither their patient nor their ward
    task_id = add_task(w.patient, w.wang).id
    assert everywhere(client, w.patient)
    assert not everywhere(client, w.theirs)  # another manager's patient does not leak
    tasks.reassign_task(db.session.get(CareTask, task_id), w.zhao.id)
    db.session.commit()
    assert not everywhere(client, w.patient)
    client.submit("/logout")
    client.login("cm_zhao")
    assert everywhere(client, w.patient) and everywhere(client, w.theirs)
    client.submit("/logout")
    # Flagged after three attempts, the supervisor gives it another round on wang's list.
    db.session.execute(update(CareTask).where(CareTask.id == task_id)
                       .values(status="unreached", attempts=3, flagged_at=func.now()))
    db.session.commit()
    client.login("cm_boss")
    response = client.submit(f"/casemgmt/tasks/{task_id}/reassign", {"case_manager_id": str(w.wang.id)})
    assert response.status_code in (200, 303)
    client.submit("/logout")
    client.login("cm_wang")
    assert everywhere(client, w.patient)
    assert pairs() == pairs_from_tasks()


def test_a_patient_stays_visible_while_any_task_remains_and_goes_with_the_last(client, w):
    first, second = add_task(w.patient, w.wang), add_task(w.patient, w.wang, local_today() + timedelta(days=1))
    assert pairs()[(w.wang.id, w.patient.id)] == 2
    client.login("cm_wang")
    tasks.reassign_task(fresh(first), w.zhao.id)
    db.session.commit()
    assert everywhere(client, w.patient)  # the second task still brings the patient
    db.session.execute(delete(CareTask).where(CareTask.id == second.id))
    db.session.commit()
    assert not everywhere(client, w.patient)
    assert (w.wang.id, w.patient.id) not in pairs() and pairs() == pairs_from_tasks()


def test_an_unassigned_task_shows_the_patient_to_whoever_it_is_given(client, w):
    task = add_task(w.patient, None)
    assert pairs() == pairs_from_tasks() == {}
    client.login("cm_wang")
    assert not everywhere(client, w.patient)
    db.session.execute(update(CareTask).where(CareTask.id == task.id).values(case_manager_id=w.wang.id))
    db.session.commit()
    assert everywhere(client, w.patient)
    # A task moved to another patient moves the visibility with it.
    db.session.execute(update(CareTask).where(CareTask.id == task.id).values(patient_id=w.theirs.id))
    db.session.commit()
    assert not everywhere(client, w.patient) and everywhere(client, w.theirs)
    assert pairs() == pairs_from_tasks()


def test_changing_the_enrolment_moves_visibility_on_the_next_request(client, w):
    client.login("cm_wang")
    assert not everywhere(client, w.patient)
    patients.update_enrolment(active_enrolment(w.patient), case_manager_id=w.wang.id)
    db.session.commit()
    assert everywhere(client, w.patient)
    patients.update_enrolment(active_enrolment(w.patient), case_manager_id=w.li.id, ward_id=w.other.id)
    db.session.commit()
    assert not everywhere(client, w.patient)
    cm.cover(w.other, w.wang)  # the patient's new ward
    assert everywhere(client, w.patient)
    client.submit("/logout")
    client.login("cm_li")
    assert everywhere(client, w.patient) and not everywhere(client, w.theirs)


def test_one_statement_over_many_tasks_keeps_the_pairs_exact(w):
    """The 17:05 build inserts in bulk and a supervisor's change may update many rows at once."""
    for n in range(3):
        add_task(w.patient, w.li, local_today() + timedelta(days=n))
        add_task(w.theirs, w.zhao, local_today() + timedelta(days=n))
    db.session.execute(update(CareTask).where(CareTask.patient_id == w.patient.id).values(case_manager_id=w.wang.id))
    db.session.execute(update(CareTask).values(status="cancelled"))  # moves nobody
    assert pairs() == pairs_from_tasks() == {(w.wang.id, w.patient.id): 3, (w.zhao.id, w.theirs.id): 3}
    db.session.execute(update(CareTask).values(case_manager_id=w.li.id))
    assert pairs() == {(w.li.id, w.patient.id): 3, (w.li.id, w.theirs.id): 3}
    db.session.execute(delete(CareTask).where(CareTask.patient_id == w.theirs.id))
    assert pairs() == pairs_from_tasks() == {(w.li.id, w.patient.id): 3}


def test_rebuilding_the_summaries_restores_pairs_changed_behind_the_applications_back(w):
    from portal.casemgmt import summaries

    add_task(w.patient, w.li)
    add_task(w.theirs, w.zhao)
    expected = pairs_from_tasks()
    db.session.execute(delete(CareTaskPatient))
    db.session.add(CareTaskPatient(case_manager_id=w.wang.id, patient_id=w.theirs.id, tasks=5))
    db.session.flush()
    summaries.rebuild()
    db.session.expire_all()
    assert pairs() == expected == {(w.li.id, w.patient.id): 1, (w.zhao.id, w.theirs.id): 1}


def test_the_export_follows_the_same_rule(client, w):
    from tests.integration.test_casemgmt_patients import workbook_text

    client.login("cm_wang")
    assert "张*丰" not in workbook_text(client.get("/casemgmt/patients/export").data)
    add_task(w.patient, w.wang)
    exported = workbook_text(client.get("/casemgmt/patients/export").data)
    assert "张*丰" in exported and "孙*空" not in exported
