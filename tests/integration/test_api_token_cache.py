"""The per-worker token cache of /api/v1 and what an API call costs.

Two app objects on one committed database stand for two worker processes: a change made through one (revoking
a token, deactivating its client or account, changing its scopes, the account's roles or a role's grants) is
seen by the very next call through both. A privilege check with warm caches sends one statement (the token and
privilege generations together), no BEGIN/COMMIT on PostgreSQL; the session cookie never authenticates an API
call and a token never opens a page.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from portal.api import clients, tokens
from portal.api.models import ApiToken
from portal.auth import services as auth_services
from portal.auth.models import Role, User, UserSession
from portal.core.timeutil import local_today
from portal.credentials import VIEW_PRIVILEGES
from portal.extensions import db
from tests import factories
from tests.api_factories import make_token
from tests.conftest import committed, workers
from tests.privilege_factories import grant, make_tech
from tests.sqlcount import statements

CHECK = f"/api/v1/privileges/check?staff=H8001&code=TC-3&right=perform&date={local_today().isoformat()}"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def pair(tmp_root, redis_server):
    """Two app objects (two workers) on one committed database, with a surgeon, an operation and a role."""
    with workers(tmp_root, redis_server, "tokcache") as (one, two):
        with one.app_context():
            tree = factories.make_tree()
            auth_services.create_role(code="tc_check", name="校验接口", description="", data_scope="all",
                                      permissions=[VIEW_PRIVILEGES.code])
            surgeon = factories.make_staff("缓存医生", tree.surgery, employee_no="H8001")
            make_tech("TC-3", 3)
            grant(surgeon, grade=3)
            factories.make_user("tc_admin", ["sysadmin", "ma_staff"], tree.hospital, name="管理员")
            db.session.commit()
        yield one, two


def _token(app, roles=("tc_check",), scopes=("privileges.check",)) -> tuple[int, str, str]:
    """A new account with its own token: (token id, raw token, login name)."""
    login = f"tc_user{next(_names)}"
    with app.app_context():
        factories.make_user(login, list(roles), None, name="HIS 接口")
        token, raw = make_token(login, scopes=scopes, name=f"令牌 {login}")
        return token.id, raw, login


def _calls(pair, raw) -> list[int]:
    return [app.test_client().get(CHECK, headers={"Authorization": f"Bearer {raw}"}).status_code for app in pair]


def test_both_workers_answer_from_their_cache_and_load_a_token_once(pair):
    _, raw, _ = _token(pair[0])
    loads = [getattr(app.extensions.get("api_token_cache"), "loads", 0) for app in pair]
    for _ in range(3):
        assert _calls(pair, raw) == [200, 200]
    assert [app.extensions["api_token_cache"].loads for app in pair] == [n + 1 for n in loads]


def test_revoking_a_token_stops_it_on_the_next_call_in_every_worker(pair):
    token_id, raw, _ = _token(pair[0])
    assert _calls(pair, raw) == [200, 200]
    committed(pair[1], lambda: tokens.revoke_token(db.session.get(ApiToken, token_id)))
    assert _calls(pair, raw) == [401, 401]


def test_changing_scopes_takes_effect_on_the_next_call(pair):
    token_id, raw, _ = _token(pair[0])
    assert _calls(pair, raw) == [200, 200]
    committed(pair[0], lambda: tokens.update_scopes(db.session.get(ApiToken, token_id), ["privileges.read"]))
    answers = [app.test_client().get(CHECK, headers={"Authorization": f"Bearer {raw}"}) for app in pair]
    assert [a.get_json()["error"]["code"] for a in answers] == ["SCOPE_DENIED", "SCOPE_DENIED"]
    committed(pair[1], lambda: tokens.update_scopes(db.session.get(ApiToken, token_id), ["privileges.check"]))
    assert _calls(pair, raw) == [200, 200]


def test_deactivating_the_client_system_stops_its_tokens(pair):
    _, raw, _ = _token(pair[0])
    _, other_raw = None, None
    with pair[0].app_context():
        factories.make_user("tc_other_client", ["tc_check"], None, name="LIS")
        _, other_raw = make_token("tc_other_client", scopes=["privileges.check"], code="LIS", name="LIS 令牌")
    assert _calls(pair, other_raw) == [200, 200]

    def deactivate(active):
        client = clients.by_code("LIS")
        clients.update_client(client, code="LIS", name=client.name, contact="", notes="", is_active=active)

    committed(pair[0], lambda: deactivate(False))
    assert _calls(pair, other_raw) == [401, 401]
    assert _calls(pair, raw) == [200, 200]  # another client's token is untouched
    committed(pair[1], lambda: deactivate(True))
    assert _calls(pair, other_raw) == [200, 200]


def test_deactivating_the_account_stops_its_tokens(pair):
    _, raw, login = _token(pair[0])
    assert _calls(pair, raw) == [200, 200]

    def set_active(active):
        user = db.session.scalar(select(User).where(User.login_name == login))
        auth_services.set_user_active(user, active, acting_user_id=None)

    committed(pair[1], lambda: set_active(False))
    assert _calls(pair, raw) == [401, 401]
    committed(pair[0], lambda: set_active(True))
    assert _calls(pair, raw) == [200, 200]


def test_taking_a_role_from_the_account_or_a_grant_from_the_role_is_seen_at_once(pair):
    _, raw, login = _token(pair[0])
    assert _calls(pair, raw) == [200, 200]

    def set_roles(codes):
        user = db.session.scalar(select(User).where(User.login_name == login))
        ids = [r.id for r in db.session.scalars(select(Role).where(Role.code.in_(codes)))]
        auth_services.update_user(user, login_name=login, staff_id=user.staff_id, wecom_userid=None, role_ids=ids)

    committed(pair[0], lambda: set_roles([]))
    answers = [app.test_client().get(CHECK, headers={"Authorization": f"Bearer {raw}"}) for app in pair]
    assert [a.get_json()["error"]["code"] for a in answers] == ["PERMISSION_DENIED", "PERMISSION_DENIED"]
    committed(pair[1], lambda: set_roles(["tc_check"]))
    assert _calls(pair, raw) == [200, 200]

    def set_grants(permissions):
        role = db.session.scalar(select(Role).where(Role.code == "tc_check"))
        auth_services.update_role(role, name=role.name, description="", data_scope="all", permissions=permissions)

    committed(pair[1], lambda: set_grants([]))
    assert _calls(pair, raw) == [403, 403]
    committed(pair[0], lambda: set_grants([VIEW_PRIVILEGES.code]))
    assert _calls(pair, raw) == [200, 200]


def test_a_warm_check_call_is_one_statement_and_last_use_is_written_once(pair):
    token_id, raw, _ = _token(pair[0])
    app = pair[0]
    engine = app.extensions["db.engine"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    with statements(engine) as seen:
        assert client.get(CHECK, headers=headers).status_code == 200  # loads the token, writes its last use
        assert any(s.startswith("UPDATE api_tokens SET last_used_at") for s in seen)
        for _ in range(3):
            seen.clear()
            answer = client.get(CHECK, headers=headers)
            assert answer.status_code == 200 and answer.get_json()["allowed"] is True
            sent = [s for s in seen if s.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]
            assert len(sent) == 1, sent
            assert "api_auth_generation" in sent[0] and "privilege_generation" in sent[0]
            if engine.dialect.name == "postgresql":
                assert seen.states == [0] and len(seen) == 1  # no BEGIN, nothing to commit
    with app.app_context():
        assert db.session.get(ApiToken, token_id).last_used_at is not None


def test_a_session_cookie_never_authenticates_an_api_call_and_a_token_never_opens_a_page(pair):
    app = pair[0]
    _, raw, _ = _token(app)
    browser = app.test_client()
    browser.login("tc_admin")
    assert browser.get("/admin/api-clients").status_code == 200  # the cookie works for pages
    with statements(app.extensions["db.engine"]) as seen:
        answer = browser.get(CHECK)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "AUTH_MISSING"
    assert "Set-Cookie" not in answer.headers and answer.headers["Cache-Control"] == "no-store"
    assert not any(UserSession.__tablename__ in s or "FROM users" in s for s in seen)  # the session is not loaded
    # With both, the token decides and the cookie is not even read (nor renewed).
    both = browser.get(CHECK, headers={"Authorization": f"Bearer {raw}"})
    assert both.status_code == 200 and "Set-Cookie" not in both.headers
    # A token opens no page: the page sends the caller to the login form.
    page = app.test_client().get("/admin/api-clients", headers={"Authorization": f"Bearer {raw}"})
    assert page.status_code in (302, 303) and "/login" in page.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(User.login_name).where(User.login_name == "tc_admin")) == "tc_admin"
