"""The /api/v1 platform: scopes per token, the OpenAPI document matches the URL map, one error-code table
(documented, and the one the code uses), junk never gives a 500, every call is logged, the legacy tokens
migrate into client systems."""

from __future__ import annotations

import ast
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from portal.api import calls
from portal.api.errors import CODES, DEFAULT_CODES
from portal.api.models import ApiCall
from portal.api.openapi import openapi_path
from portal.api.registry import AUTH_ERRORS, ENDPOINTS
from portal.auth.sync import ITEM_CODES
from portal.config import ROOT
from portal.core import migrate
from portal.core.timeutil import utcnow
from portal.extensions import db, make_engine
from tests.api_factories import make_token
from tests.backends import fresh_database
from tests.factories import make_user
from tests.sqlcount import statements

API = "/api/v1"
CODE_WORD = re.compile(r"^[A-Z][A-Z_]+$")


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def everything(tree):
    """A token with every scope, acting as an account with every permission the endpoints need."""
    make_user("api_all", ["sysadmin", "plan_issuer"], tree.hospital)
    from portal.api.registry import SCOPES

    token, raw = make_token("api_all", scopes=list(SCOPES), name="全部范围")
    return token, raw


# --- the OpenAPI document matches the URL map --------------------------------------------------------------


def test_every_api_route_is_in_the_openapi_document_with_its_methods_and_path_parameters(app, client):
    document = client.get(f"{API}/openapi.json")
    assert document.status_code == 200 and document.is_json
    doc = document.get_json()
    assert doc["openapi"].startswith("3.")
    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith(API + "/")]
    assert len(routes) >= 5
    seen = set()
    for rule in routes:
        path = openapi_path(rule.rule)
        assert path in doc["paths"], f"{rule.rule} is not documented"
        documented = doc["paths"][path]
        methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
        for method in methods:
            assert method in documented, f"{method.upper()} {rule.rule} is not documented"
            operation = documented[method]
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert in_path == set(rule.arguments), (rule.rule, in_path)
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")
            seen.add((path, method))
    documented_ops = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented_ops == seen, "the document names an operation the app does not serve"


def test_every_protected_operation_documents_its_scope_and_the_token_errors(client):
    doc = client.get(f"{API}/openapi.json").get_json()
    for declared in ENDPOINTS:
        operation = doc["paths"][openapi_path(declared.path)][declared.method.lower()]
        assert operation["x-scope"] == declared.scope.code and operation["summary"]
        codes = {c for r in operation["responses"].values() for c in r.get("x-error-codes", [])}
        assert set(AUTH_ERRORS) | set(declared.errors) == codes
        for status, answer in operation["responses"].items():
            assert all(CODES[c][0] == int(status) for c in answer.get("x-error-codes", []))
    assert set(doc["x-error-codes"]) == set(CODES)
    assert doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"] == sorted(CODES)


def _codes_in(path) -> set[str]:
    """Error codes a module's source raises: ApiError("X", ...), json_error(..., code="X")."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "ApiError", "json_error"):
            candidates = [node.args[0]] if node.args and getattr(node.func, "id", "") == "ApiError" else []
            candidates += [k.value for k in node.keywords if k.arg == "code"]
            for candidate in candidates:
                found |= {n.value for n in ast.walk(candidate)
                          if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE_WORD.match(n.value)}
    return found


def test_the_error_code_table_is_the_one_the_code_uses_and_the_one_documented(app):
    modules = sorted((ROOT / "portal").rglob("*.py"))
    used = set().union(*(_codes_in(p) for p in modules)) | set(DEFAULT_CODES.values())
    assert used == set(CODES), f"used but not in the table: {used - set(CODES)}; unused: {set(CODES) - used}"
    # Each endpoint module raises only what its endpoints declare (plus the platform's token codes).
    declared_by_module: dict[str, set[str]] = {}
    for declared in ENDPOINTS:
        module = app.view_functions[declared.endpoint].__module__
        declared_by_module.setdefault(module, set()).update(declared.errors)
    for module, declared_codes in declared_by_module.items():
        raised = _codes_in(ROOT / (module.replace(".", "/") + ".py"))
        assert raised <= declared_codes | set(AUTH_ERRORS), (module, raised - declared_codes)
    doc = (ROOT / "docs" / "api.md").read_text()
    in_doc = set(re.findall(r"^\| `([A-Z_]+)` \|", doc, re.MULTILINE))
    assert in_doc == set(CODES) | set(ITEM_CODES), (in_doc ^ (set(CODES) | set(ITEM_CODES)))
    for code, (status, _) in CODES.items():
        assert re.search(rf"^\| `{code}` \| {status} \|", doc, re.MULTILINE), code


# --- tokens, scopes ----------------------------------------------------------------------------------------


def test_a_token_calls_only_the_endpoints_its_scopes_name(client, tree):
    make_user("his_all", ["sysadmin", "plan_issuer"], tree.hospital)
    _, plans_only = make_token("his_all", scopes=["plans"])
    refused = client.post(f"{API}/staff", json={"items": []}, headers=bearer(plans_only))
    assert refused.status_code == 403
    error = refused.get_json()["error"]
    assert error["code"] == "SCOPE_DENIED" and "人员同步" in error["message"] and error["details"] == {"scope": "staff"}
    assert client.get(f"{API}/plans/2026-12-01", headers=bearer(plans_only)).get_json()["error"]["code"] \
        == "NOT_FOUND_PLAN"
    _, staff_only = make_token("his_all", scopes=["staff"], code="HR")
    assert client.post(f"{API}/staff", json={"items": []}, headers=bearer(staff_only)).status_code == 200
    assert client.get(f"{API}/plans/2026-12-01", headers=bearer(staff_only)).status_code == 403


def test_a_deactivated_client_system_stops_its_tokens(client, tree):
    from portal.api import clients

    make_user("his_user", ["plan_issuer"], tree.hospital)
    token, raw = make_token("his_user")
    clients.update_client(token.client, code="HIS", name="测试 HIS", contact="", notes="", is_active=False)
    db.session.commit()
    answer = client.get(f"{API}/plans/2026-12-01", headers=bearer(raw))
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "AUTH_INVALID"
    assert "对接系统" in answer.get_json()["error"]["message"]


# --- junk to every endpoint: never a 500 --------------------------------------------------------------------

JUNK_SEGMENTS = ["x", "2026-02-30", "0", "-1", "9" * 40, "..%2F..%2Fetc", "%00", "２０２６-１２-０１",
                 "'; DROP TABLE users;--", "%E2%80%AE", "a" * 300]
JUNK_BODIES = [None, b"", b"not json", b"[]", b"null", b"123", b'"text"', b'{"items": null}', b'{"items": {}}',
               b'{"items": [null, 1, "x", [], {}]}', b'{"items": [{"code": 5, "name": [], "kind": {}}]}',
               b'{"items": [{"employee_no": true, "department": null}]}', b'{"items": "' + b"x" * 5000 + b'"}',
               "{\"items\": [{\"name\": \"\u202e\u0000\"}]}".encode(), b"\xff\xfe\x00", b"[" * 600 + b"]" * 600]
JUNK_QUERIES = ["", "?date=x", "?staff=%00", "?page=-1&updated_since=yesterday", "?" + "a=1&" * 200]


def _urls(rule) -> list[str]:
    if not rule.arguments:
        return [rule.rule]
    return [re.sub(r"<[^>]+>", segment, rule.rule) for segment in JUNK_SEGMENTS]


def test_junk_to_every_endpoint_gets_a_json_4xx_never_a_500(app, client, everything):
    _, raw = everything
    everything_headers = bearer(raw)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for url in _urls(rule):
                for query in JUNK_QUERIES:
                    for body in (JUNK_BODIES if method != "GET" else [None]):
                        for headers in (everything_headers, {}, {"Authorization": "Bearer pt_" + "x" * 40}):
                            response = client.open(url + query, method=method, data=body, headers={
                                **headers, "Content-Type": "application/json"})
                            checked += 1
                            assert response.status_code < 500, (method, url, query, body, response.get_data()[:300])
                            assert response.is_json, (method, url)
                            if response.status_code >= 400:
                                error = response.get_json()["error"]
                                assert error["code"] in CODES and CODES[error["code"]][0] == response.status_code
                                assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])
                            if headers is not everything_headers and rule.endpoint != "api.openapi_document":
                                # refused: no or a wrong token (or a request the portal refuses before any view)
                                assert response.status_code in (400, 401, 404, 413), (method, url, response.status_code)
    assert checked > 500
    # Nothing the junk sent was written.
    from portal.auth.models import Department, Staff

    assert db.session.scalar(select(Staff).where(Staff.employee_no == "TRUE")) is None
    assert db.session.scalar(select(Department).where(Department.code == "5")) is None


def test_unknown_paths_and_methods_under_the_api_answer_json_with_a_code(client, everything):
    _, raw = everything
    missing = client.get(f"{API}/privileges/nothing", headers=bearer(raw))
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "NOT_FOUND"
    wrong = client.delete(f"{API}/staff", headers=bearer(raw))
    assert wrong.status_code == 405 and wrong.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"


# --- the call log ----------------------------------------------------------------------------------------------


def test_every_call_is_logged_with_client_token_endpoint_status_and_duration(client, tree):
    make_user("his_user", ["plan_issuer"], tree.hospital)
    token, raw = make_token("his_user")
    client_id, prefix = token.client_id, token.token_prefix
    calls.flush()
    client.get(f"{API}/plans/2026-12-01", headers=bearer(raw))  # 404 NOT_FOUND_PLAN
    client.get(f"{API}/plans/bad-date", headers=bearer(raw))  # 400 BAD_DATE
    client.post(f"{API}/staff", json={"items": []}, headers=bearer(raw))  # 403 SCOPE_DENIED
    client.get(f"{API}/plans/2026-12-01")  # 401, no client
    client.get(f"{API}/no-such-thing")  # 404, no route
    assert calls.flush() >= 5
    rows = db.session.execute(select(ApiCall.client_id, ApiCall.token_prefix, ApiCall.endpoint, ApiCall.route,
                                     ApiCall.method, ApiCall.status, ApiCall.error_code, ApiCall.duration_ms)
                              .order_by(ApiCall.id.desc()).limit(5)).all()[::-1]
    assert [(r.status, r.error_code) for r in rows] == [(404, "NOT_FOUND_PLAN"), (400, "BAD_DATE"),
                                                        (403, "SCOPE_DENIED"), (401, "AUTH_MISSING"),
                                                        (404, "NOT_FOUND")]
    assert {r.client_id for r in rows[:3]} == {client_id} and rows[3].client_id is None
    assert {r.token_prefix for r in rows[:3]} == {prefix}
    assert rows[0].endpoint == "api.get_plan" and rows[0].route == "/api/v1/plans/<plan_date>"
    assert rows[2].endpoint == "api.push_staff" and rows[2].method == "POST"
    assert rows[4].route == "/api/v1/no-such-thing" and all(r.duration_ms >= 0 for r in rows)


def test_logging_a_call_costs_no_database_round_trip(client, tree, app):
    """The entry goes to Redis in the request; the database sees it only at the bulk flush."""
    make_user("his_user", ["plan_issuer"], tree.hospital)
    _, raw = make_token("his_user")
    calls.flush()
    with statements(app.extensions["db.engine"]) as seen:
        client.get(f"{API}/plans/2026-12-01", headers=bearer(raw))
    assert not [s for s in seen if "api_calls" in s]


def test_old_calls_and_expired_nonces_are_purged(session, app):
    now = utcnow()
    db.session.add_all([ApiCall(created_at=now - timedelta(days=200), endpoint="api.get_plan", route="/x",
                                method="GET", status=200, duration_ms=1),
                        ApiCall(created_at=now - timedelta(days=10), endpoint="api.get_plan", route="/x",
                                method="GET", status=200, duration_ms=1)])
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(ApiCall))
    result = calls.purge(180)
    assert result["calls"] >= 1
    assert db.session.scalar(select(func.count()).select_from(ApiCall)) == before - result["calls"]
    assert db.session.scalar(select(ApiCall.id).where(ApiCall.created_at < now - timedelta(days=180))) is None
    assert app.config["API_CALL_LOG_DAYS"] == 180


def test_the_call_log_jobs_are_scheduled():
    from portal.core import domains

    jobs = {s.job for s in domains.schedules()}
    assert {"jobs.api.flush_api_calls", "jobs.api.purge_api_calls"} <= jobs


# --- the legacy tokens migrate into client systems ------------------------------------------------------------


def test_existing_tokens_become_client_systems_with_the_scopes_they_could_use(tmp_path):
    with fresh_database(tmp_path, "legacy_tokens") as url:
        migrate.upgrade(url, "0013")
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                stamp = {"t": "2026-01-01 00:00:00"}
                conn.execute(text("INSERT INTO roles (code, name, description, data_scope, is_system, created_at,"
                                  " updated_at) VALUES ('plan_issuer', '全程', '', 'all', true, :t, :t)"), stamp)
                conn.execute(text("INSERT INTO role_permissions (role_id, permission) SELECT id, 'casemgmt.plan'"
                                  " FROM roles WHERE code = 'plan_issuer'"))
                for login in ("issuer", "other"):
                    conn.execute(text("INSERT INTO users (login_name, password_hash, is_active, must_change_password,"
                                      " access_version, created_at, updated_at) VALUES (:l, 'x', true, false, 1,"
                                      " :t, :t)"), {"l": login, **stamp})
                conn.execute(text("INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r"
                                  " WHERE u.login_name = 'issuer'"))
                for name, login in (("HIS 计划", "issuer"), ("旧令牌", "other")):
                    conn.execute(text("INSERT INTO api_tokens (name, token_hash, token_prefix, user_id, is_active,"
                                      " created_at, updated_at) SELECT :n, :h, 'pt_abc', id, true, :t, :t FROM users"
                                      " WHERE login_name = :l"), {"n": name, "h": name.encode().hex(), "l": login,
                                                                  **stamp})
            migrate.upgrade(url)
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT t.name, t.scopes, c.code, c.name, c.is_active FROM api_tokens t"
                                         " JOIN api_clients c ON c.id = t.client_id ORDER BY t.id")).all()
        finally:
            engine.dispose()
    assert [(r[0], r[1], r[3], bool(r[4])) for r in rows] == [("HIS 计划", "plans", "HIS 计划", True),
                                                                ("旧令牌", "", "旧令牌", True)]
    assert all(r[2].startswith("LEGACY-") for r in rows)


# --- query parameter helpers for endpoints (the privilege check and its list use them) ---------------------


@pytest.mark.parametrize(("query", "call", "code"), [
    ("?date=2026-02-30", lambda p: p.query_date("date"), "BAD_DATE"),
    ("?date=20261201", lambda p: p.query_date("date"), "BAD_DATE"),
    ("", lambda p: p.query_date("date", required=True), "BAD_PARAM"),
    ("?page=0", lambda p: p.query_int("page", default=1), "BAD_PARAM"),
    ("?page=abc", lambda p: p.query_int("page", default=1), "BAD_PARAM"),
    ("?right=delete", lambda p: p.query_choice("right", ("perform", "order")), "BAD_PARAM"),
    ("?staff=" + "x" * 40, lambda p: p.query_text("staff", max_length=32), "BAD_PARAM"),
    ("?since=yesterday", lambda p: p.query_datetime("since"), "BAD_DATE"),
])
def test_query_parameters_are_refused_with_the_table_codes(app, query, call, code):
    from portal.api import params
    from portal.api.errors import ApiError

    with app.test_request_context("/api/v1/x" + query), pytest.raises(ApiError) as refused:
        call(params)
    assert refused.value.code == code and CODES[code][0] == refused.value.status


def test_query_parameters_that_are_fine(app):
    from datetime import date

    from portal.api import params

    with app.test_request_context("/api/v1/x?date=2026-12-01&page=3&right=order&since=2026-12-01T08:00:00+08:00"):
        assert params.query_date("date") == date(2026, 12, 1) and params.query_int("page", default=1) == 3
        assert params.query_choice("right", ("perform", "order")) == "order"
        assert params.query_datetime("since").utcoffset() == timedelta(hours=8)
        assert params.query_int("missing", default=1) == 1 and params.query_date("missing") is None
