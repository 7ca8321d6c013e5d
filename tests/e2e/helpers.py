"""Small page actions shared by the browser tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from playwright.sync_api import Page


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    password: str
    name: str


def unique(prefix: str) -> str:
    """A name no other test (or earlier run on the same database) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def submit_login(page: Page, login: str, password: str) -> None:
    """Fill and send the sign-in form (the caller asserts where it lands)."""
    if urlsplit(page.url).path != "/login":
        page.goto("/login")
    page.locator('input[name="login_name"]').fill(login)
    page.locator('input[name="password"]').fill(password)
    # The form posts without htmx: the click always ends in a new document (redirect or 422 page).
    with page.expect_navigation():
        page.get_by_role("button", name="登录", exact=True).click()


def log_out(page: Page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="退出", exact=True).click()


def no_horizontal_scroll(page: Page) -> bool:
    """Whether the page, once loaded (its htmx parts and fonts too), fits the viewport's width."""
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
