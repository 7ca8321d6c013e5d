"""The per-worker cache of the signed-in user and their session (portal/auth/session.py).

Two app objects on one committed database stand for two worker processes; a browser's cookie works on both. Once
both have cached the session, a change made anywhere (logout, password change, deactivation, a role or its
grants, the user's department) is seen by the very next request through either. A page with a warm cache reads
the generation only: no user or session row.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, update

from portal.auth import org
from portal.auth import services as auth_services
from portal.auth.models import Department, Role, User, UserSession
from portal.extensions import db
from tests import factories
from tests.conftest import committed, text_of, workers
from tests.sqlcount import TRANSACTION_CONTROL, statements

_names = itertools.count(1)


@pytest.fixture(scope="module")
def pair(tmp_root, redis_server):
    with workers(tmp_root, redis_server, "sesscache") as (one, two):
        with one.app_context():
            factories.make_tree()
            factories.make_user("sc_root", ["sysadmin"], None, name="管理员")
            db.session.commit()
        yield one, two


def _browser(pair, roles=("clinician",)):
    """A new account signed in once; the same cookie is sent to both workers, whose caches are then warm."""
    one, two = pair
    login = f"sc_user{next(_names)}"
    with one.app_context():
        cardiology = db.session.scalar(select(Department).where(Department.name == "心内科"))
        factories.make_user(login, list(roles), cardiology, name=f"缓存用户{login}")
    first = one.test_client()
    first.login(login)
    second = two.test_client()
    second.set_cookie("portal_session", first.get_cookie("portal_session").value)
    assert [first.get("/").status_code, second.get("/").status_code] == [200, 200]
    assert [first.get("/").status_code, second.get("/").status_code] == [200, 200]  # from the caches
    return login, first, second


def _user(login: str) -> User:
    return db.session.scalar(select(User).where(User.login_name == login))


def _refused(*clients) -> bool:
    return all(c.get("/").status_code == 302 for c in clients)


def test_a_warm_page_reads_the_generation_and_no_user_or_session_row(pair):
    one, _ = pair
    _, first, _ = _browser(pair)
    with statements(one.extensions["db.engine"], leave_out=TRANSACTION_CONTROL) as seen:
        assert first.get("/").status_code == 200
    assert len(seen) == 1 and "api_auth_generation" in seen[0], seen


def test_logout_through_one_worker_is_seen_by_the_other(pair):
    _, first, second = _browser(pair)
    assert first.submit("/logout").status_code == 303
    assert _refused(second)


def test_a_session_ended_elsewhere_is_refused_at_the_next_request(pair):
    one, _ = pair
    login, first, second = _browser(pair)
    committed(one, lambda: auth_services.end_all_sessions(_user(login).id, "password"))
    assert _refused(first, second)


def test_deactivation_is_seen_by_both_workers(pair):
    one, _ = pair
    login, first, second = _browser(pair)
    committed(one, lambda: auth_services.set_user_active(_user(login), False, acting_user_id=None))
    assert _refused(first, second)


def test_a_password_change_ends_the_other_workers_copy_of_the_session(pair):
    _, two = pair
    login, first, second = _browser(pair)
    other = two.test_client()
    other.login(login)
    assert other.get("/").status_code == 200
    response = first.submit("/account/password", {"current_password": factories.PASSWORD,
                                                  "new_password": "Better#Pass9", "confirm_password": "Better#Pass9"})
    assert response.status_code == 303
    assert first.get("/").status_code == 200  # this browser goes on, with a new session key
    assert _refused(other, second)  # the other device, and the old key's copy on the other worker


def test_a_forced_password_change_applies_at_the_next_request(pair):
    one, _ = pair
    login, first, second = _browser(pair)
    committed(one, lambda: setattr(_user(login), "must_change_password", True))
    for client in (first, second):
        response = client.get("/")
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/password")


def test_a_role_granted_or_a_grant_withdrawn_applies_at_the_next_request(pair):
    one, _ = pair
    login, first, second = _browser(pair)
    assert [first.get("/admin/users").status_code, second.get("/admin/users").status_code] == [403, 403]
    committed(one, lambda: auth_services.update_user(
        _user(login), login_name=login, staff_id=_user(login).staff_id, wecom_userid=None,
        role_ids=[db.session.scalar(select(Role.id).where(Role.code == "sysadmin"))]))
    assert [first.get("/admin/users").status_code, second.get("/admin/users").status_code] == [200, 200]
    committed(one, lambda: db.session.execute(update(User).where(User.login_name == login)
                                            .values(access_version=User.access_version + 1)))
    assert second.get("/admin/users").status_code == 200


def test_the_users_department_and_name_are_read_again_after_acommitted(pair):
    one, _ = pair
    login, first, second = _browser(pair)

    def rename():
        department = db.session.scalar(select(Department).where(Department.name == "心内科"))
        org.update_department(department, name="心血管内科", code=department.code, kind=department.kind,
                              parent_id=department.parent_id, sort_order=department.sort_order,
                              is_active=department.is_active)

    committed(one, rename)
    assert "心血管内科" in text_of(second.get("/"))
    committed(one, lambda: setattr(_user(login).staff, "name", "改名用户"))
    assert "改名用户" in text_of(first.get("/")) and "改名用户" in text_of(second.get("/"))


def test_a_touch_of_the_session_does_not_empty_the_caches(pair):
    one, _ = pair
    login, first, _ = _browser(pair)
    store = one.extensions["session_cache"]
    generation = store.generation
    with one.app_context():
        db.session.execute(update(UserSession).where(UserSession.user_id == _user(login).id)
                           .values(last_seen_at=UserSession.last_seen_at))
        db.session.commit()
    assert first.get("/").status_code == 200
    assert store.generation == generation


def test_without_the_generation_row_nothing_is_served_from_the_cache(pair):
    from sqlalchemy import text

    one, _ = pair
    _, first, _ = _browser(pair)
    with one.app_context():
        db.session.execute(text("DELETE FROM api_auth_generation"))
        db.session.commit()
    try:
        with statements(one.extensions["db.engine"]) as seen:
            assert first.get("/").status_code == 200 and first.get("/").status_code == 200
    finally:
        with one.app_context():
            db.session.execute(text("INSERT INTO api_auth_generation (id, value) VALUES (1, 424242)"))
            db.session.commit()
    assert sum("user_sessions" in statement for statement in seen) == 2


def test_department_choices_are_kept_per_generation_and_a_new_department_shows_at_once(pair):
    one, _ = pair
    _, first, second = _browser(pair, roles=("sysadmin",))
    second.get("/admin/users")
    with statements(pair[1].extensions["db.engine"]) as seen:
        assert second.get("/admin/users").status_code == 200
    assert not any("FROM departments" in statement for statement in seen)

    def add():
        division = db.session.scalar(select(Department).where(Department.kind == "division").limit(1))
        org.create_department(name="新建缓存科", code="SC-NEW", kind="department", parent_id=division.id)

    committed(one, add)
    assert "新建缓存科" in second.get("/admin/users").get_data(as_text=True)
    assert "新建缓存科" in first.get("/admin/staff").get_data(as_text=True)


def test_the_users_list_shows_a_role_renamed_or_granted_through_the_other_worker(pair):
    """The users list names each account's roles from the role list kept per worker: a rename or a new grant
    committed through one worker shows on the other's next page."""
    one, two = pair
    login, _, _ = _browser(pair)
    viewer = two.test_client()
    viewer.login("sc_root")
    url = f"/admin/users?q={login}"
    with one.app_context():
        clinician = db.session.scalar(select(Role).where(Role.code == "clinician")).name
    assert clinician in text_of(viewer.htmx_get(url)) and "缓存角色" not in text_of(viewer.htmx_get(url))

    def grant():
        user = _user(login)
        user.roles.append(Role(code=f"sc_role{next(_names)}", name=f"缓存角色{next(_names)}"))

    committed(one, grant)
    shown = text_of(viewer.htmx_get(url))
    assert clinician in shown and "缓存角色" in shown

    def rename():
        db.session.scalar(select(Role).join(Role.users).where(User.login_name == login, Role.code.like("sc_role%"))
                          ).name = "改名后的缓存角色"

    committed(one, rename)
    shown = text_of(viewer.htmx_get(url))
    assert "改名后的缓存角色" in shown and clinician in shown
