"""Department scoping: a department head sees and changes their own department only."""

from __future__ import annotations

from portal.auth.models import Staff
from portal.auth.principal import clear_cache
from portal.core.audit import AuditLog
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import make_staff, make_user


def count(model) -> int:
    from sqlalchemy import func, select

    return db.session.scalar(select(func.count()).select_from(model))


def test_department_head_lists_only_own_department_and_its_wards(client, tree):
    make_user("head", ["dept_head"], tree.cardiology, name="心内主任")
    make_staff("病区护士", tree.cardiology_ward)
    make_staff("外科医生", tree.surgery)
    client.login("head")
    page = text_of(client.get("/admin/staff"))
    assert "心内主任" in page and "病区护士" in page
    assert "外科医生" not in page


def test_department_head_cannot_read_another_departments_record(client, tree):
    make_user("head", ["dept_head"], tree.cardiology)
    stranger = make_staff("外科医生", tree.surgery)
    client.login("head")
    assert client.get(f"/admin/staff/{stranger.id}").status_code == 404
    assert client.get(f"/admin/staff/{stranger.id}/edit").status_code == 404


def test_department_head_cannot_change_another_departments_record(client, tree):
    make_user("head", ["dept_head"], tree.cardiology)
    stranger = make_staff("外科医生", tree.surgery, employee_no="S900")
    audits = count(AuditLog)
    client.login("head")
    response = client.submit(f"/admin/staff/{stranger.id}/edit", {
        "employee_no": "S900", "name": "改过的名字", "title": "", "position": "",
        "department_id": tree.cardiology.id, "is_active": "y"})
    assert response.status_code == 404
    refreshed = db.session.get(Staff, stranger.id)
    assert (refreshed.name, refreshed.department_id) == ("外科医生", tree.surgery.id)
    assert count(AuditLog) == audits


def test_department_head_cannot_move_own_staff_into_a_foreign_department(client, tree):
    make_user("head", ["dept_head"], tree.cardiology)
    mine = make_staff("心内医生", tree.cardiology, employee_no="C900")
    client.login("head")
    response = client.submit(f"/admin/staff/{mine.id}/edit", {
        "employee_no": "C900", "name": "心内医生", "department_id": tree.surgery.id, "is_active": "y"})
    assert response.status_code == 422
    assert db.session.get(Staff, mine.id).department_id == tree.cardiology.id


def test_department_head_edits_own_staff(client, tree):
    make_user("head", ["dept_head"], tree.cardiology)
    mine = make_staff("心内医生", tree.cardiology, employee_no="C901")
    client.login("head")
    response = client.submit(f"/admin/staff/{mine.id}/edit", {
        "employee_no": "C901", "name": "心内医生", "title": "主治医师", "position": "",
        "department_id": tree.cardiology.id, "is_active": "y"})
    assert response.status_code == 303
    assert db.session.get(Staff, mine.id).title == "主治医师"


def test_division_scope_sees_the_whole_division(client, tree, session):
    from portal.auth import services
    from tests.factories import role

    supervisor = role("cm_supervisor")
    services.update_role(supervisor, name=supervisor.name, description="", data_scope="division",
                         permissions=["staff.view"])
    db.session.commit()
    make_user("div", ["cm_supervisor"], tree.surgery)
    make_staff("心内医生", tree.cardiology)
    make_staff("骨科医生", tree.orthopaedics)
    clear_cache()
    client.login("div")
    page = text_of(client.get("/admin/staff"))
    assert "心内医生" in page  # same division (北区)
    assert "骨科医生" not in page  # other division


def test_medical_affairs_sees_every_department(client, tree):
    make_user("yiwu", ["ma_admin"], tree.cardiology)
    make_staff("骨科医生", tree.orthopaedics)
    client.login("yiwu")
    assert "骨科医生" in text_of(client.get("/admin/staff"))


def test_user_without_department_sees_nothing_in_own_scope(client, tree):
    make_user("floating", ["dept_head"])  # a login with no staff record, so no department
    make_staff("骨科医生", tree.orthopaedics)
    client.login("floating")
    assert "骨科医生" not in text_of(client.get("/admin/staff"))
