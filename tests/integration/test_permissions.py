"""Every view declares exactly one permission (or is declared public); roles grant them."""

from __future__ import annotations

from portal.core.permissions import REGISTRY
from tests.factories import make_user


def test_every_endpoint_declares_a_permission_or_is_public(app):
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        declared = getattr(view, "permission", "missing")
        if declared == "missing":
            missing.append(rule.endpoint)
        elif declared is None:
            assert getattr(view, "is_public", False), f"{rule.endpoint} has no permission and is not public"
        else:
            assert declared.code in REGISTRY, rule.endpoint
    assert missing == [], f"views without @require or @public: {missing}"


def test_public_endpoints_are_only_the_expected_ones(app):
    public = sorted(r.endpoint for r in app.url_map.iter_rules()
                    if r.endpoint != "static" and getattr(app.view_functions[r.endpoint], "is_public", False))
    assert public == ["api.openapi_document", "auth.login", "main.favicon", "main.healthz", "sso.his_signin",
                      "wecom.finish_signin", "wecom.start_signin"]


def test_permission_codes_are_domain_action(app):
    for code in REGISTRY:
        domain, action = code.split(".")
        assert domain and action


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users?q=x")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_anonymous_htmx_request_gets_401_with_redirect_header(client):
    response = client.htmx_get("/admin/users")
    assert response.status_code == 401


def test_wrong_role_gets_403_in_chinese(client, tree):
    make_user("clin", ["clinician"], tree.cardiology)
    client.login("clin")
    response = client.get("/admin/users")
    assert response.status_code == 403
    assert "没有权限" in response.get_data(as_text=True)


def test_sidebar_shows_only_permitted_entries(client, tree):
    make_user("aud", ["auditor"], tree.cardiology)
    client.login("aud")
    html = client.get("/").get_data(as_text=True)
    assert "审计日志" in html
    assert "用户管理" not in html
