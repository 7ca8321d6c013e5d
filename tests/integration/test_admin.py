"""Sysadmin pages: users, roles and permissions, the department tree."""

from __future__ import annotations

from sqlalchemy import select

from portal.auth import org
from portal.auth.models import Department, Role, User
from portal.core.audit import AuditLog
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import make_department, make_staff, make_user, role


def admin(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")


def test_user_list_searches_filters_and_paginates(client, tree):
    admin(client, tree)
    for n in range(25):
        make_user(f"nurse{n:02d}", ["clinician"], tree.cardiology if n % 2 else tree.surgery)
    page1 = text_of(client.get("/admin/users?q=nurse&sort=login_name"))
    assert "第 1–20 条，共 25 条" in page1 and "nurse00" in page1 and "nurse24" not in page1
    page2 = text_of(client.get("/admin/users?q=nurse&sort=login_name&page=2"))
    assert "nurse24" in page2 and "nurse00" not in page2
    # "%" and "_" are searched as themselves, not as wildcards.
    for q in ("nurse_1", "%"):
        assert "nurse01" not in text_of(client.get("/admin/users", query_string={"q": q})), q
    filtered = text_of(client.get(f"/admin/users?department_id={tree.north.id}&q=nurse01"))
    assert "nurse01" in filtered  # department filter includes the whole subtree
    assert "nurse01" not in text_of(client.get(f"/admin/users?department_id={tree.south.id}&q=nurse01"))
    by_role = text_of(client.get(f"/admin/users?role_id={role('sysadmin').id}"))
    assert "root" in by_role and "nurse01" not in by_role


def test_user_list_htmx_returns_the_rows_partial_with_count(client, tree):
    admin(client, tree)
    response = client.htmx_get("/admin/users?q=root")
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<table" in html
    assert 'hx-swap-oob="true"' in html and "（1）" in html


def test_empty_state_tells_what_to_do(client, tree):
    admin(client, tree)
    assert "没有符合条件的用户" in text_of(client.get("/admin/users?q=nobody-here"))


def test_create_user_linked_to_staff_with_roles(client, tree):
    admin(client, tree)
    staff = make_staff("新医生", tree.cardiology)
    response = client.submit("/admin/users/new", {"login_name": "xinyisheng", "password": "Fresh#Pass2026",
                                                  "staff_id": staff.id, "wecom_userid": "xys",
                                                  "role_ids": [role("clinician").id]})
    assert response.status_code == 303
    user = db.session.scalar(select(User).where(User.login_name == "xinyisheng"))
    assert user.staff_id == staff.id and user.must_change_password
    assert [r.code for r in user.roles] == ["clinician"]


def test_duplicate_login_name_is_refused(client, tree):
    admin(client, tree)
    response = client.submit("/admin/users/new", {"login_name": "ROOT", "password": "Fresh#Pass2026",
                                                  "role_ids": [role("clinician").id]})
    assert response.status_code == 422
    assert "登录名已被使用" in text_of(response)
    html = response.get_data(as_text=True)
    # Only the field in error carries the ARIA error attributes; no attribute is written as "None".
    assert 'aria-invalid="true"' in html and 'aria-describedby="err-login_name"' in html
    assert '"None"' not in html and html.count('aria-invalid="true"') == 1


def test_cannot_deactivate_oneself(client, tree):
    admin(client, tree)
    me = db.session.scalar(select(User).where(User.login_name == "root"))
    response = client.submit(f"/admin/users/{me.id}/active", {"active": "0"})
    assert response.status_code == 422
    assert "不能停用自己的账户" in text_of(response)


def test_role_change_takes_effect_at_the_holders_next_request(client, tree):
    admin(client, tree)
    make_user("doc", ["clinician"], tree.cardiology)
    other = type(client)(client.application, client.response_wrapper, use_cookies=True)
    other.login("doc")
    assert other.get("/audit/").status_code == 403
    clinician = role("clinician")
    response = client.submit(f"/admin/roles/{clinician.id}", {"code": "clinician", "name": clinician.name,
                                                              "description": "", "data_scope": "own",
                                                              "permissions": ["audit.view"]})
    assert response.status_code == 303
    assert other.get("/audit/").status_code == 200
    client.submit(f"/admin/roles/{clinician.id}", {"code": "clinician", "name": clinician.name,
                                                   "data_scope": "own", "permissions": []})
    assert other.get("/audit/").status_code == 403


def test_user_role_change_takes_effect_at_next_request(client, tree):
    admin(client, tree)
    doc = make_user("doc", ["clinician"], tree.cardiology)
    other = type(client)(client.application, client.response_wrapper, use_cookies=True)
    other.login("doc")
    assert other.get("/admin/staff").status_code == 403
    client.submit(f"/admin/users/{doc.id}", {"login_name": "doc", "staff_id": doc.staff_id,
                                            "role_ids": [role("dept_secretary").id]})
    assert other.get("/admin/staff").status_code == 200


def test_create_role_with_permissions(client, tree):
    admin(client, tree)
    response = client.submit("/admin/roles/new", {"code": "quality_officer", "name": "质控专员",
                                                  "description": "全院质控", "data_scope": "all",
                                                  "permissions": ["staff.view", "audit.view"]})
    assert response.status_code == 303
    created = db.session.scalar(select(Role).where(Role.code == "quality_officer"))
    assert created.permission_codes == {"staff.view", "audit.view"}


def test_role_with_unknown_permission_is_refused(client, tree):
    admin(client, tree)
    response = client.submit("/admin/roles/new", {"code": "bad_role", "name": "坏角色", "data_scope": "all",
                                                  "permissions": ["admin.everything"]})
    assert response.status_code == 422
    assert db.session.scalar(select(Role).where(Role.code == "bad_role")) is None


def test_department_tree_page_lists_in_tree_order(client, tree):
    admin(client, tree)
    html = text_of(client.get("/admin/departments"))
    order = [html.index(name) for name in ("测试医院", "北区", "心内科", "心内病区", "南区")]
    assert order == sorted(order)


def test_create_department_respects_the_hierarchy(client, tree):
    admin(client, tree)
    bad = client.submit("/admin/departments/new", {"name": "错层病区", "code": "BADW", "kind": "ward",
                                                   "parent_id": tree.north.id, "sort_order": 0})
    assert bad.status_code == 422 and "病区的上级必须是科室" in text_of(bad)
    good = client.submit("/admin/departments/new", {"name": "普外病区", "code": "PWW", "kind": "ward",
                                                    "parent_id": tree.surgery.id, "sort_order": 0})
    assert good.status_code == 303
    ward = db.session.scalar(select(Department).where(Department.code == "PWW"))
    assert ward.path == f"/{tree.hospital.id}/{tree.north.id}/{tree.surgery.id}/"


def test_a_department_is_clinical_unless_unticked_and_a_push_keeps_the_choice(client, tree):
    admin(client, tree)
    assert 'name="clinical"' in client.get("/admin/departments/new").get_data(as_text=True)
    made = client.submit("/admin/departments/new", {"name": "医务科", "code": "YWK", "kind": "department",
                                                    "parent_id": tree.north.id, "sort_order": 0})
    assert made.status_code == 303
    office = db.session.scalar(select(Department).where(Department.code == "YWK"))
    assert office.clinical is False  # the box was left unticked
    client.submit(f"/admin/departments/{office.id}", {"name": "医务科", "code": "YWK", "kind": "department",
                                                      "parent_id": tree.north.id, "sort_order": 0, "is_active": "y",
                                                      "clinical": "y"})
    assert db.session.get(Department, office.id, populate_existing=True).clinical is True
    log = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "department",
                                                   AuditLog.entity_id == str(office.id)).order_by(AuditLog.id.desc()))
    assert log.changes == {"clinical": {"before": False, "after": True}}
    org.update_department(office, name="医务科", code="YWK", kind="department", parent_id=tree.north.id,
                          sort_order=0, is_active=True, clinical=False)
    org.update_department(office, name="医务处", code="YWK", kind="department", parent_id=tree.north.id,
                          sort_order=0, is_active=True)  # as an HR push does: no flag given
    assert office.clinical is False and office.name == "医务处"


def test_moving_a_department_moves_its_subtree_and_scopes(client, tree):
    admin(client, tree)
    head = make_user("head", ["dept_head"], tree.cardiology)
    response = client.submit(f"/admin/departments/{tree.cardiology.id}", {
        "name": "心内科", "code": tree.cardiology.code, "kind": "department", "parent_id": tree.south.id,
        "sort_order": 0, "is_active": "y"})
    assert response.status_code == 303
    ward = db.session.get(Department, tree.cardiology_ward.id)
    assert ward.path == f"/{tree.hospital.id}/{tree.south.id}/{tree.cardiology.id}/"
    assert db.session.get(User, head.id).access_version > head.access_version


def test_department_cannot_move_under_its_own_ward(client, tree):
    admin(client, tree)
    response = client.submit(f"/admin/departments/{tree.north.id}", {
        "name": "北区", "code": tree.north.code, "kind": "division", "parent_id": tree.cardiology.id,
        "sort_order": 0, "is_active": "y"})
    assert response.status_code == 422
    assert db.session.get(Department, tree.north.id).parent_id == tree.hospital.id


def test_department_with_staff_cannot_be_disabled(client, tree):
    admin(client, tree)
    make_staff("在岗医生", tree.surgery)
    response = client.submit(f"/admin/departments/{tree.surgery.id}", {
        "name": "普外科", "code": tree.surgery.code, "kind": "department", "parent_id": tree.north.id,
        "sort_order": 0})
    assert response.status_code == 422
    assert "在职人员" in text_of(response)
    assert db.session.get(Department, tree.surgery.id).is_active


def test_staff_without_login_can_be_registered(client, tree):
    admin(client, tree)
    response = client.submit("/admin/staff/new", {"employee_no": "N0001", "name": "无账户医生", "title": "住院医师",
                                                  "position": "", "department_id": tree.orthopaedics.id})
    assert response.status_code == 303
    assert "无账户医生" in text_of(client.get("/admin/staff?q=N0001"))


def test_new_department_appears_in_choices(client, tree):
    admin(client, tree)
    make_department("新科室", "department", tree.south)
    assert "新科室" in client.get("/admin/staff/new").get_data(as_text=True)


def exported_rows(response) -> list[list]:
    import io

    from openpyxl import load_workbook

    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(response.data)).active.iter_rows()]
    return rows[2:]  # after the title and filter lines


def test_user_export_follows_the_filters(client, tree):
    admin(client, tree)
    make_user("nurse01", ["clinician"], tree.cardiology)
    make_user("nurse02", ["clinician"], tree.orthopaedics)
    rows = exported_rows(client.get(f"/admin/users/export?q=nurse&department_id={tree.north.id}"))
    assert rows[0][:2] == ["登录名", "姓名"]
    assert [r[0] for r in rows[1:]] == ["nurse01"]
    assert "导出" in text_of(client.get("/admin/users"))


def test_staff_export_is_scoped_like_the_list(client, tree):
    make_user("head", ["dept_head"], tree.cardiology, name="心内主任")
    make_staff("外科医生", tree.surgery)
    client.login("head")
    rows = exported_rows(client.get("/admin/staff/export"))
    names = [r[1] for r in rows[1:]]
    assert "心内主任" in names and "外科医生" not in names
    assert rows[1][5] == "是"


def test_filter_bar_keeps_the_chosen_values(client, tree):
    admin(client, tree)
    html = client.get(f"/admin/users?status=locked&department_id={tree.north.id}").get_data(as_text=True)
    assert '<option value="locked" selected>' in html
    assert f'<option value="{tree.north.id}" selected>' in html
    assert '<option value="">全部状态</option>' in html


def test_user_rows_show_name_department_roles_and_state_in_a_fixed_number_of_queries(client, tree):
    from datetime import timedelta

    from portal.auth.models import LoginThrottle
    from portal.core.timeutil import utcnow
    from tests.integration.test_scale_queries import statements

    admin(client, tree)
    make_user("Nurse01", ["clinician", "dept_secretary"], tree.cardiology, name="护士甲", must_change=True)
    make_user("nurse02", [], None, active=False)
    db.session.add(LoginThrottle(login_name="nurse01", ip="10.0.0.1", failures=5,
                                 locked_until=utcnow() + timedelta(minutes=10)))
    db.session.add(LoginThrottle(login_name="nurse02", ip="10.0.0.1", failures=5,
                                 locked_until=utcnow() - timedelta(minutes=10)))
    db.session.commit()
    client.htmx_get("/admin/users?q=nurse&sort=login_name")  # the signed-in user's permissions, cached
    with statements() as few:
        html = client.htmx_get("/admin/users?q=nurse&sort=login_name").get_data(as_text=True)
    rows = html.split("<tr>")[2:]
    first, second = text_of_html(rows[0]), text_of_html(rows[1])
    assert "Nurse01" in first and "护士甲" in first and tree.cardiology.name in first
    assert "临床医师" in first or role("clinician").name in first
    assert role("dept_secretary").name in first and "锁定中" in first and "待改密" in first
    assert "nurse02" in second and "锁定中" not in second and "停用" in second
    for n in range(3, 12):
        make_user(f"nurse{n:02d}", ["clinician"], tree.surgery)
    client.htmx_get("/admin/users?q=nurse&sort=login_name")  # new accounts moved the session cache on
    with statements() as more:
        client.htmx_get("/admin/users?q=nurse&sort=login_name")
    assert len(more) == len(few)


def text_of_html(fragment: str) -> str:
    import re

    return re.sub(r"<[^>]+>", " ", fragment)


def test_staff_rows_show_department_and_login(client, tree):
    admin(client, tree)
    make_user("xinnei", ["clinician"], tree.cardiology, name="有账户医生")
    make_staff("无账户医生", tree.orthopaedics)
    rows = client.htmx_get("/admin/staff?q=账户医生&sort=name").get_data(as_text=True).split("<tr>")[2:]
    texts = sorted(text_of_html(row) for row in rows)
    assert len(texts) == 2
    with_login = next(t for t in texts if "有账户医生" in t)
    without = next(t for t in texts if "无账户医生" in t)
    assert "xinnei" in with_login and tree.cardiology.name in with_login
    assert "无" in without and tree.orthopaedics.name in without
