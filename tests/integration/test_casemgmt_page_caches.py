"""What the case-management lists keep per worker, and the ledger's monthly count of patients served.

The patient and ledger lists' filter choices (case managers, wards) are kept per worker while the auth generation
is unchanged: two app objects on one committed database stand for two workers, and a new case manager or ward
written through one is in the next page of the other.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.auth import org
from portal.auth.models import Department, User
from portal.extensions import db
from tests import cm_factories as cm
from tests import factories
from tests.conftest import committed, workers
from tests.sqlcount import TRANSACTION_CONTROL, statements

PAGES = ("/casemgmt/patients", "/casemgmt/ledger")


@pytest.fixture(scope="module")
def pair(tmp_root, redis_server):
    with workers(tmp_root, redis_server, "cmcache") as (one, two):
        with one.app_context():
            tree = factories.make_tree()
            cm.make_ward("初始病区", tree.surgery)
            cm.make_case_manager("pc_first", tree.surgery, "首位个管")
            factories.make_user("pc_boss", ["cm_supervisor"], tree.surgery, name="缓存组长")
            db.session.commit()
        yield one, two


def _clients(pair):
    one, two = pair
    first, second = one.test_client(), two.test_client()
    first.login("pc_boss")
    second.set_cookie("portal_session", first.get_cookie("portal_session").value)
    for client in (first, second):
        for _ in range(2):  # the second time from the caches
            for path in PAGES:
                assert client.get(path).status_code == 200
    return first, second


def test_a_warm_list_reads_no_choices(pair):
    one, _ = pair
    first, _ = _clients(pair)
    for path in PAGES:
        with statements(one.extensions["db.engine"], leave_out=TRANSACTION_CONTROL) as seen:
            assert first.get(path).status_code == 200
        assert not [s for s in seen if "user_roles" in s or s.startswith("SELECT departments")], seen


def test_a_new_case_manager_and_ward_are_in_the_other_workers_next_page(pair):
    one, _ = pair
    first, second = _clients(pair)

    def add():
        surgery = db.session.scalar(select(Department).where(Department.name == "普外科"))
        org.create_department(name="新开病区", code="XKBQ", kind="ward", parent_id=surgery.id)
        cm.make_case_manager("pc_new", surgery, "新来个管")

    committed(one, add)
    for client in (second, first):
        for path in PAGES:
            page = client.get(path).get_data(as_text=True)
            assert "新开病区" in page and "新来个管" in page, path


def test_a_renamed_ward_and_a_removed_role_show_at_once(pair):
    one, _ = pair
    _, second = _clients(pair)

    def change():
        from portal.auth import services as auth_services

        ward = db.session.scalar(select(Department).where(Department.name == "初始病区"))
        org.update_department(ward, name="改名病区", code=ward.code, kind=ward.kind, parent_id=ward.parent_id,
                              sort_order=ward.sort_order, is_active=True)
        user = db.session.scalar(select(User).where(User.login_name == "pc_first"))
        auth_services.update_user(user, login_name=user.login_name, staff_id=user.staff_id,
                                  wecom_userid=user.wecom_userid, role_ids=[])

    committed(one, change)
    patients = second.get("/casemgmt/patients").get_data(as_text=True)
    assert "改名病区" in patients and "初始病区" not in patients
    assert "首位个管" not in patients  # the patient filter lists active case managers only
