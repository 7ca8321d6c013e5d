"""Shared request rules: JSON depth, the Content-Security-Policy, upload file names, the favicon and logo."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.approvals.models import ApprovalAttachment
from portal.config import ROOT
from tests.api_factories import make_token
from tests.conftest import text_of
from tests.factories import make_user
from tests.integration.test_approvals import instance, people, submit, task_of  # noqa: F401

TEMPLATES = ROOT / "templates"


# --- JSON nested too deep -----------------------------------------------------------------------------------


@pytest.fixture
def api_token(tree):
    make_user("his_user", ["plan_issuer"], tree.hospital)
    _, raw = make_token("his_user")
    return {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}


@pytest.mark.parametrize("body", [
    "[" * 1000 + "]" * 1000,
    '{"items": ' + "[" * 1000 + "]" * 1000 + "}",
    '{"a":' * 5000 + "1" + "}" * 5000,
])
def test_json_nested_deep_is_a_400_in_chinese_not_a_500(client, api_token, body):
    response = client.post("/api/v1/plans/2026-12-02", data=body, headers=api_token)
    assert response.status_code == 400
    assert "嵌套层数过深" in response.get_json()["error"]["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(client, api_token):
    body = '{"items": [{"id": "A1", "service": "' + "[" * 200 + '", "patient": "ZY001"}]}'
    response = client.post("/api/v1/plans/2026-12-02", data=body, headers=api_token)
    assert response.status_code != 500
    assert "嵌套" not in str((response.get_json() or {}).get("error", ""))


# --- Content-Security-Policy --------------------------------------------------------------------------------


def test_pages_carry_a_policy_that_allows_only_the_portals_own_scripts_and_styles(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    for response in (client.get("/login"), client.login("doc") and client.get("/account/password")):
        policy = response.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert "unsafe" not in policy and directives["object-src"] == "'none'"


INLINE = {
    # A JSON data block (chart data) is never executed, so the policy leaves it alone.
    "inline <script>": re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "hx-on attribute": re.compile(r"\shx-on", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_templates_hold_no_inline_script_or_style_the_policy_would_block(template):
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert not found, f"{template}: {found} (move it to static/js or static/css/portal.css)"


# --- upload file names --------------------------------------------------------------------------------------


RLO_NAME = "报告\u202excod.pdf"  # a real PDF, listed as "报告fdp.docx"


def test_a_right_to_left_override_in_an_attachment_name_is_refused(client, people):  # noqa: F811
    iid = submit(people)
    client.login("head")
    pdf = (io.BytesIO(b"%PDF-1.4\n%EOF\n"), RLO_NAME)
    response = client.submit(f"/approvals/{iid}/act", {"action": "approve", "comment": "同意", "attachments": pdf},
                             content_type="multipart/form-data")
    assert response.status_code == 400
    assert "文件名包含不可见的控制字符" in text_of(response)
    assert instance(iid).status == "pending" and task_of(iid, people.head) is not None
    from portal.extensions import db

    assert db.session.scalar(select(func.count()).select_from(ApprovalAttachment)) == 0


def test_a_bidi_mark_in_an_import_file_name_is_refused(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    response = client.submit("/imports/staff/preview", {"file": (io.BytesIO(b"PK"), "人员\u2067名单.xlsx")},
                             content_type="multipart/form-data")
    assert response.status_code == 400 and "重命名文件" in text_of(response)


# --- favicon and logo ---------------------------------------------------------------------------------------


def test_favicon_and_logo(client, tree):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 301 and icon.headers["Location"] == "/static/img/logo.svg"
    logo = client.get(icon.headers["Location"])
    logo.close()
    assert logo.status_code == 200 and logo.mimetype == "image/svg+xml"
    assert Path(ROOT / "static/img/logo.svg").read_text().startswith("<svg")
    login = client.get("/login").get_data(as_text=True)
    assert 'rel="icon"' in login and "img/logo.svg" in login
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    page = client.get("/account/password").get_data(as_text=True)
    brand = re.search(r'<a class="brand".*?</a>', page, re.S).group(0)
    assert 'class="logo"' in brand
