"""Department scoping: a department head sees and changes their own department only."""

from __future__ import annotations

from sqlalchemy import select

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


# --- scope belongs to the permission: users holding several roles -------------------------------------------------

def _finding(department, title: str):
    from datetime import timedelta

    from portal.core.timeutil import local_today
    from portal.supervision import services as supervision

    finding = supervision.issue_finding(department_id=department.id, title=title, description="抽查发现",
                                        deadline=local_today() + timedelta(days=7))
    db.session.commit()
    return finding


def _division_viewer(permissions: list[str]):
    """A role the hospital might make: the whole division, for the given permissions only."""
    from portal.auth import services

    role = services.create_role(code="div_viewer", name="片区查看", description="", data_scope="division",
                                permissions=permissions)
    db.session.commit()
    return role


def test_each_permission_reaches_only_the_departments_of_the_roles_granting_it(tree):
    from portal.auth.principal import principal_for

    _division_viewer(["staff.view", "supervision.view"])
    head = make_user("mixed", ["dept_head", "committee", "div_viewer"], tree.cardiology)
    principal = principal_for(head)
    own = {tree.cardiology.id, tree.cardiology_ward.id}
    north = own | {tree.north.id, tree.surgery.id}
    assert principal.departments_for("staff.edit") == own  # the committee's "all" grants nothing: widens nothing
    assert principal.departments_for("supervision.answer") == own
    assert principal.departments_for("staff.view") == north  # the division role widens only what it grants
    assert principal.departments_for("supervision.view") == north
    assert principal.departments_for("supervision.issue") == frozenset()  # not held: nowhere
    assert principal.can_act_on("staff.view", tree.surgery.id) and not principal.can_act_on("staff.edit",
                                                                                            tree.surgery.id)
    assert not principal.can_act_on("staff.view", tree.orthopaedics.id)
    assert principal_for(make_user("yiwu", ["ma_admin"], tree.cardiology)).departments_for("staff.edit") is None
    import pytest

    with pytest.raises(TypeError):
        principal.departments_for(None)


def test_department_head_who_sits_on_a_committee_cannot_edit_other_departments_staff(client, tree):
    make_user("head", ["dept_head", "committee"], tree.cardiology, name="心内主任")
    stranger = make_staff("外科医生", tree.surgery, employee_no="S900")
    mine = make_staff("心内医生", tree.cardiology, employee_no="C900")
    audits = count(AuditLog)
    client.login("head")
    assert "外科医生" not in text_of(client.get("/admin/staff"))
    assert client.get(f"/admin/staff/{stranger.id}").status_code == 404
    assert client.get(f"/admin/staff/{stranger.id}/edit").status_code == 404
    edited = client.submit(f"/admin/staff/{stranger.id}/edit", {
        "employee_no": "S900", "name": "改过的名字", "department_id": tree.surgery.id, "is_active": "y"})
    assert edited.status_code == 404
    pulled = client.submit(f"/admin/staff/{stranger.id}/edit", {
        "employee_no": "S900", "name": "外科医生", "department_id": tree.cardiology.id, "is_active": "y"})
    assert pulled.status_code == 404
    pushed = client.submit(f"/admin/staff/{mine.id}/edit", {
        "employee_no": "C900", "name": "心内医生", "department_id": tree.surgery.id, "is_active": "y"})
    assert pushed.status_code == 422
    created = client.submit("/admin/staff/new", {"employee_no": "S901", "name": "新人",
                                                 "department_id": tree.surgery.id})
    assert created.status_code == 422
    form = client.get("/admin/staff/new").get_data(as_text=True)
    assert "心内科" in form and "普外科" not in form and "骨科" not in form
    assert db.session.get(Staff, stranger.id, populate_existing=True).name == "外科医生"
    assert db.session.get(Staff, stranger.id).department_id == tree.surgery.id
    assert db.session.get(Staff, mine.id, populate_existing=True).department_id == tree.cardiology.id
    assert db.session.scalar(select(Staff).where(Staff.employee_no == "S901")) is None
    assert count(AuditLog) == audits


def test_department_head_who_sits_on_a_committee_cannot_answer_another_departments_finding(client, tree):
    from portal.supervision.models import Finding

    make_user("head", ["dept_head", "committee"], tree.cardiology)
    make_user("yiwu", ["ma_staff"], tree.hospital)  # evaluates the rectification
    foreign = _finding(tree.surgery, "普外科病历不规范")
    own = _finding(tree.cardiology, "心内科病历不规范")
    client.login("head")
    page = text_of(client.get("/supervision"))
    assert "心内科病历不规范" in page and "普外科病历不规范" not in page
    assert client.get(f"/supervision/{foreign.id}").status_code == 404
    assert client.submit(f"/supervision/{foreign.id}/answer", {"rectification": "代为整改"}).status_code == 404
    assert db.session.get(Finding, foreign.id, populate_existing=True).status == "issued"
    answered = client.submit(f"/supervision/{own.id}/answer", {"rectification": "已整改"})
    assert answered.status_code == 303, text_of(answered)[-400:]
    assert db.session.get(Finding, own.id, populate_existing=True).status == "answered"


def test_a_wider_role_for_viewing_does_not_widen_editing(client, tree):
    _division_viewer(["staff.view", "supervision.view"])
    make_user("head", ["dept_head", "div_viewer"], tree.cardiology)
    neighbour = make_staff("外科医生", tree.surgery, employee_no="S900")
    far = make_staff("骨科医生", tree.orthopaedics, employee_no="O900")
    mine = make_staff("心内医生", tree.cardiology, employee_no="C900")
    foreign = _finding(tree.surgery, "普外科病历不规范")
    client.login("head")
    # staff.view reaches the division: list, detail and export show the neighbour, never the other division.
    page = text_of(client.get("/admin/staff"))
    assert "外科医生" in page and "心内医生" in page and "骨科医生" not in page
    detail = client.get(f"/admin/staff/{neighbour.id}")
    assert detail.status_code == 200 and f"/admin/staff/{neighbour.id}/edit" not in detail.get_data(as_text=True)
    assert f"/admin/staff/{mine.id}/edit" in client.get(f"/admin/staff/{mine.id}").get_data(as_text=True)
    assert client.get(f"/admin/staff/{far.id}").status_code == 404
    # staff.edit stays with the department head's own department: seen but not editable is a 403.
    assert client.get(f"/admin/staff/{neighbour.id}/edit").status_code == 403
    refused = client.submit(f"/admin/staff/{neighbour.id}/edit", {
        "employee_no": "S900", "name": "改过的名字", "department_id": tree.surgery.id, "is_active": "y"})
    assert refused.status_code == 403 and "不在您可以操作的科室范围内" in text_of(refused)
    assert client.get(f"/admin/staff/{far.id}/edit").status_code == 404
    pushed = client.submit(f"/admin/staff/{mine.id}/edit", {
        "employee_no": "C900", "name": "心内医生", "department_id": tree.surgery.id, "is_active": "y"})
    assert pushed.status_code == 422
    assert db.session.get(Staff, neighbour.id, populate_existing=True).name == "外科医生"
    assert db.session.get(Staff, mine.id, populate_existing=True).department_id == tree.cardiology.id
    assert client.submit(f"/admin/staff/{mine.id}/edit", {
        "employee_no": "C900", "name": "心内医生", "title": "主任医师", "department_id": tree.cardiology_ward.id,
        "is_active": "y"}).status_code == 303
    assert db.session.get(Staff, mine.id, populate_existing=True).department_id == tree.cardiology_ward.id
    # supervision.view reaches the division too, supervision.answer does not.
    shown = client.get(f"/supervision/{foreign.id}")
    assert shown.status_code == 200 and f"/supervision/{foreign.id}/answer" not in shown.get_data(as_text=True)
    assert client.submit(f"/supervision/{foreign.id}/answer", {"rectification": "代为整改"}).status_code == 403


def test_services_refuse_moves_outside_the_given_reach(tree):
    import pytest

    from portal.auth import org
    from portal.core.service import ServiceError

    own = frozenset({tree.cardiology.id, tree.cardiology_ward.id})
    mine = make_staff("心内医生", tree.cardiology, employee_no="C900")
    stranger = make_staff("外科医生", tree.surgery, employee_no="S900")
    for staff, target in ((mine, tree.surgery.id), (stranger, tree.cardiology.id)):
        with pytest.raises(ServiceError) as refused:
            org.update_staff(staff, employee_no=staff.employee_no, name=staff.name, title="", position="",
                             department_id=target, is_active=True, within=own)
        assert refused.value.status == 403
    with pytest.raises(ServiceError):
        org.create_staff(employee_no="S901", name="新人", title="", position="", department_id=tree.surgery.id,
                         within=own)
    org.update_staff(mine, employee_no="C900", name="心内医生", title="", position="",
                     department_id=tree.cardiology_ward.id, is_active=True, within=own)
    assert mine.department_id == tree.cardiology_ward.id


def test_scoping_helpers_need_the_permission(tree):
    import inspect

    from portal.core.scoping import get_scoped_or_404, scope_query

    for helper in (scope_query, get_scoped_or_404):
        assert inspect.signature(helper).parameters["perm"].default is inspect.Parameter.empty
