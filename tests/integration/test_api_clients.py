"""The client-system pages (对接系统) and the interface registry (接口清单): who may see them, tokens with
scopes shown once, the secret shown once and kept encrypted, call counts, and the Excel export."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import select

from portal.api import calls, clients, tokens
from portal.api.models import ApiClient, ApiToken
from portal.core.audit import AuditLog
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import make_user


def _shown(response, testid: str) -> str:
    html = response.get_data(as_text=True)
    return re.search(rf'value="([^"]+)" data-testid="{testid}"', html).group(1)


def test_only_the_system_administrator_reaches_the_pages(client, tree):
    make_user("clin", ["clinician"], tree.cardiology)
    assert client.get("/admin/api-clients").status_code == 302  # anonymous: to login
    client.login("clin")
    for url in ("/admin/api-clients", "/admin/api-clients/new", "/admin/api-registry",
                "/admin/api-registry/export"):
        assert client.get(url).status_code == 403, url


def test_register_a_client_issue_a_scoped_token_rotate_the_secret_and_deactivate(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    make_user("his_user", ["plan_issuer"], tree.surgery)
    client.login("root")
    home = text_of(client.get("/"))
    assert "对接系统" in home and "接口清单" in home
    assert client.get("/admin/api-tokens").headers["Location"] == "/admin/api-clients"
    bad = client.submit("/admin/api-clients/new", {"code": "HIS 系统", "name": "东华 HIS"})
    assert bad.status_code == 422 and "系统代码只能用字母" in text_of(bad)
    made = client.submit("/admin/api-clients/new", {"code": "HIS", "name": "东华 HIS", "contact": "信息科 8001"})
    assert made.status_code == 303
    his = db.session.scalar(select(ApiClient).where(ApiClient.code == "HIS"))
    assert client.submit("/admin/api-clients/new", {"code": "his", "name": "重复"}).status_code == 422
    page = text_of(client.get(f"/admin/api-clients/{his.id}"))
    assert "东华 HIS" in page and "未设置" in page and "次日服务计划（plans）" in page and "人员同步（staff）" in page

    no_scope = client.submit(f"/admin/api-clients/{his.id}/tokens", {"name": "计划", "login_name": "his_user"})
    assert no_scope.status_code == 422 and "请至少勾选一个接口范围" in text_of(no_scope)
    bad_scope = client.submit(f"/admin/api-clients/{his.id}/tokens", {"name": "计划", "login_name": "his_user",
                                                                      "scopes": ["plans", "everything"]})
    assert bad_scope.status_code == 422
    issued = client.submit(f"/admin/api-clients/{his.id}/tokens", {"name": "计划", "login_name": "his_user",
                                                                   "scopes": ["plans"]})
    assert issued.status_code == 200 and "只显示这一次" in text_of(issued)
    raw = _shown(issued, "api-token")
    token = db.session.scalar(select(ApiToken).where(ApiToken.client_id == his.id))
    assert token.token_hash == tokens.hash_token(raw) and token.scopes == "plans"
    detail = text_of(client.get(f"/admin/api-clients/{his.id}"))
    assert token.token_prefix in detail and raw not in detail
    auth = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/plans/2026-12-01", headers=auth).status_code == 404  # valid, no plan
    assert client.post("/api/v1/staff", json={"items": []}, headers=auth).status_code == 403  # not its scope

    scopes_page = client.get(f"/admin/api-clients/{his.id}/tokens/{token.id}/scopes")
    assert scopes_page.status_code == 200
    assert client.submit(f"/admin/api-clients/{his.id}/tokens/{token.id}/scopes",
                         {"scopes": ["plans", "staff"]}).status_code == 303
    assert db.session.scalar(select(ApiToken.scopes).where(ApiToken.id == token.id)) == "plans staff"
    token_id, his_id = token.id, his.id

    rotated = client.submit(f"/admin/api-clients/{his.id}/secret")
    assert rotated.status_code == 200 and "只显示这一次" in text_of(rotated)
    secret = _shown(rotated, "api-secret")
    his = db.session.get(ApiClient, his_id)
    assert len(secret) == 64 and secret not in (his.secret_encrypted or "") and clients.secret_of(his) == secret
    assert secret not in text_of(client.get(f"/admin/api-clients/{his.id}"))
    again = _shown(client.submit(f"/admin/api-clients/{his.id}/secret"), "api-secret")
    db.session.expire_all()
    his = db.session.get(ApiClient, his_id)
    assert again != secret and clients.secret_of(his) == again

    assert client.submit(f"/admin/api-clients/{his_id}/tokens/{token_id}/revoke").status_code == 303
    assert client.get("/api/v1/plans/2026-12-01", headers=auth).status_code == 401
    edited = client.submit(f"/admin/api-clients/{his_id}/edit", {"code": "HIS", "name": "东华 HIS（停用）",
                                                                 "contact": "", "notes": ""})  # is_active unticked
    assert edited.status_code == 303
    assert db.session.scalar(select(ApiClient.is_active).where(ApiClient.id == his_id)) is False
    assert "已停用" in text_of(client.get("/admin/api-clients"))
    listing = client.htmx_get("/admin/api-clients?state=inactive")
    assert listing.status_code == 200 and "<html" not in listing.get_data(as_text=True)
    assert "东华 HIS（停用）" in text_of(listing)
    assert "东华 HIS" not in text_of(client.htmx_get("/admin/api-clients?state=active"))
    assert client.get("/admin/api-clients?state=bogus").status_code == 400
    assert client.get("/admin/api-clients/99999").status_code == 404
    actions = db.session.execute(select(AuditLog.entity_type, AuditLog.action).where(
        AuditLog.entity_type.in_(("api_client", "api_token"))).order_by(AuditLog.id)).all()
    assert [tuple(a) for a in actions] == [("api_client", "create"), ("api_token", "create"), ("api_token", "update"),
                                           ("api_client", "rotate_secret"), ("api_client", "rotate_secret"),
                                           ("api_token", "revoke"), ("api_client", "update")]
    assert all(secret not in str(row) for row in db.session.execute(select(AuditLog.changes)).all())


def test_the_registry_lists_endpoints_and_clients_with_calls_and_exports_them(client, tree):
    from portal.core.redis_conn import get_redis

    get_redis().delete(calls._key())  # entries earlier tests left name client ids their rollback freed
    make_user("root", ["sysadmin"], tree.hospital)
    make_user("his_user", ["plan_issuer"], tree.surgery)
    his = clients.create_client(code="HIS", name="东华 HIS")
    clients.create_client(code="HR", name="人事系统")
    _, raw = tokens.create_token(client=his, name="计划", login_name="his_user", scopes=["plans"])
    db.session.commit()
    his_id = his.id
    auth = {"Authorization": f"Bearer {raw}"}
    for _ in range(3):
        client.get("/api/v1/plans/2026-12-01", headers=auth)  # 404s
    client.get("/api/v1/plans/2026-12-01x", headers=auth)  # 400
    client.login("root")
    page = client.get(f"/admin/api-registry?client={his_id}")  # calls left by earlier tests are other clients'
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    endpoints = html.split('data-testid="registry-endpoints"')[1].split("</table>")[0]
    for path in ("/api/v1/plans/&lt;plan_date&gt;", "/api/v1/staff", "/api/v1/departments"):
        assert path in endpoints
    row = next(r for r in endpoints.split("<tr>") if "/api/v1/plans/&lt;plan_date&gt;" in r and ">GET<" in r)
    assert ">4<" in row and "100.0%" in row, row
    assert "对接系统（1）" in text_of(page)
    everyone = text_of(client.get("/admin/api-registry"))
    assert "东华 HIS" in everyone and "人事系统" in everyone
    partial = client.htmx_get("/admin/api-registry?from=2020-01-01&to=2020-01-31")
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)
    assert "所选期间没有调用" in text_of(partial)
    assert client.get("/admin/api-registry?from=2026-13-01").status_code == 400
    assert client.get("/admin/api-registry?from=2026-12-01&to=2026-01-01").status_code == 400
    exported = client.get(f"/admin/api-registry/export?client={his_id}")
    assert exported.status_code == 200 and exported.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(exported.data)).active
    rows = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(rows) if r and r[0] == "对接系统")
    data = rows[header + 1:]
    his_rows = [r for r in data if r[0] == "东华 HIS（HIS）"]
    assert his_rows and his_rows[0][1] == "GET" and his_rows[0][6] == 4 and his_rows[0][7] == 4
    assert any(r[0] == "全部" and r[2] == "/api/v1/staff" for r in data)
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "export",
                                                       AuditLog.entity_type == "api_call")) is not None
