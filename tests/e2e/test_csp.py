"""The Content-Security-Policy in a real browser: pages, htmx swaps and dialogs run with nothing refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def watch_violations(page: Page) -> list[str]:
    """Chromium reports each refused script, style or image as a console error naming the policy."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen


def test_pages_and_htmx_swaps_run_under_the_policy(open_context, sysadmin_state):
    page = open_context(viewport={"width": 1440, "height": 900}, storage_state=sysadmin_state).new_page()
    violations = watch_violations(page)
    page.goto("/")
    expect(page.locator("a.brand img.logo")).to_be_visible()
    page.goto("/admin/users")
    # The search swaps the list through htmx (its indicator styles come from portal.css, not inline).
    with page.expect_response(lambda r: "/admin/users" in r.url and r.request.headers.get("hx-request") == "true"):
        page.locator('input[type="search"]').first.fill("admin")
    page.goto("/admin/departments")
    page.goto("/admin/users/999999")  # the error page
    expect(page.get_by_text("返回首页")).to_be_visible()
    assert violations == []


def test_login_page_shows_the_logo_without_violations(page: Page):
    violations = watch_violations(page)
    page.goto("/login")
    expect(page.locator(".login-box img.logo")).to_be_visible()
    assert violations == []
