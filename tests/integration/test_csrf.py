"""CSRF: every state-changing request needs the token, as a form field or as the htmx header."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.auth.models import User
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import make_user


def users() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def _new_user_form(tree) -> dict:
    from tests.factories import role

    return {"login_name": "newdoc", "password": "Fresh#Pass2026", "staff_id": "", "wecom_userid": "",
            "role_ids": [role("clinician").id]}


def test_post_without_token_is_refused_and_changes_nothing(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    before = users()
    response = client.post("/admin/users/new", data=_new_user_form(tree))
    assert response.status_code == 400
    assert "CSRF" in text_of(response) and "刷新" in text_of(response)
    assert users() == before


def test_htmx_post_without_header_is_refused(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    before = users()
    response = client.post("/admin/users/new", data=_new_user_form(tree), headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)  # the in-place error partial
    assert users() == before


def test_htmx_post_with_header_token_is_accepted(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    response = client.submit("/admin/users/new", _new_user_form(tree), htmx=True)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/admin/users/")
    assert db.session.scalar(select(User).where(User.login_name == "newdoc")) is not None


def test_forged_token_is_refused(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    before = users()
    response = client.post("/admin/users/new", data={**_new_user_form(tree), "csrf_token": "forged.token.value"})
    assert response.status_code == 400
    assert users() == before


def test_login_without_token_is_refused(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    response = client.post("/login", data={"login_name": "doc", "password": "Portal#2026ok"})
    assert response.status_code == 400
