"""Signing in, the forced password change and the lockout, as a user sees them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_out, submit_login

pytestmark = pytest.mark.e2e

LOGIN_URL = re.compile(r"/login(\?.*)?$")
PASSWORD_URL = re.compile(r"/account/password$")


def home_url(base_url: str) -> str:
    return f"{base_url}/"


def test_wrong_password_shows_the_chinese_error_and_stays_on_login(page: Page, make_account):
    account = make_account("wrongpw")
    page.goto("/login")
    submit_login(page, account.login, account.password + "x")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("alert").filter(has_text="登录名或密码错误")).to_be_visible()
    # The login name is kept, the password is not echoed back.
    expect(page.locator('input[name="login_name"]')).to_have_value(account.login)
    expect(page.locator('input[name="password"]')).to_have_value("")
    expect(page.get_by_test_id("current-user")).to_have_count(0)


def test_right_password_lands_on_home_with_the_users_name(page: Page, make_account, base_url):
    account = make_account("rightpw", name="王晓明")
    page.goto("/login")
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(home_url(base_url))
    expect(page.get_by_test_id("current-user")).to_have_text("王晓明")
    expect(page.get_by_role("heading", level=1)).to_have_text("您好，王晓明")


def test_anonymous_visit_goes_to_login_and_back_after_sign_in(page: Page, sysadmin, base_url):
    page.goto("/admin/users")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)admin(/|%2F)users$"))
    submit_login(page, sysadmin.login, sysadmin.password)
    expect(page).to_have_url(f"{base_url}/admin/users")
    expect(page.get_by_role("heading", level=1)).to_contain_text("用户管理")


def test_forced_password_change_then_sign_in_with_the_new_password(page: Page, make_account, base_url):
    account = make_account("forced", must_change=True, name="李护士")
    new_password = "Better#Pass2026"

    page.goto("/login")
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(PASSWORD_URL)
    expect(page.get_by_text("须设置新密码后才能继续使用")).to_be_visible()

    # Every other page sends the user back here until the password is changed.
    page.goto("/")
    expect(page).to_have_url(PASSWORD_URL)
    page.goto("/admin/users")
    expect(page).to_have_url(PASSWORD_URL)

    # A weak password is refused with the policy in Chinese.
    page.locator('input[name="current_password"]').fill(account.password)
    page.locator('input[name="new_password"]').fill("weakpass1")
    page.locator('input[name="confirm_password"]').fill("weakpass1")
    with page.expect_navigation():
        page.get_by_role("button", name="保存新密码").click()
    expect(page).to_have_url(PASSWORD_URL)
    expect(page.locator("#field-new_password small.error")).to_contain_text(
        "密码须包含大写字母、小写字母、数字、符号中的至少三类")
    page.goto("/")
    expect(page).to_have_url(PASSWORD_URL)

    # A valid one is accepted and the portal opens.
    page.locator('input[name="current_password"]').fill(account.password)
    page.locator('input[name="new_password"]').fill(new_password)
    page.locator('input[name="confirm_password"]').fill(new_password)
    with page.expect_navigation():
        page.get_by_role("button", name="保存新密码").click()
    expect(page).to_have_url(home_url(base_url))
    expect(page.locator("#messages")).to_contain_text("密码已修改。")
    expect(page.get_by_test_id("current-user")).to_have_text("李护士")
    page.goto("/account/password")
    expect(page.get_by_text("须设置新密码后才能继续使用")).to_have_count(0)
    page.goto("/")
    expect(page).to_have_url(home_url(base_url))

    log_out(page)
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator("#messages")).to_contain_text("您已安全退出。")
    expect(page.get_by_test_id("current-user")).to_have_count(0)

    # The old password no longer works; the new one does, with no further forced change.
    submit_login(page, account.login, account.password)
    expect(page.get_by_role("alert").filter(has_text="登录名或密码错误")).to_be_visible()
    submit_login(page, account.login, new_password)
    expect(page).to_have_url(home_url(base_url))
    expect(page.get_by_test_id("current-user")).to_have_text("李护士")


def test_five_wrong_passwords_lock_the_account(page: Page, make_account):
    account = make_account("locked")
    page.goto("/login")
    for _ in range(4):
        submit_login(page, account.login, "Wrong#Pass2026")
        # No countdown: it would tell a guesser that the login name exists.
        expect(page.get_by_role("alert")).to_have_text("登录名或密码错误。")

    submit_login(page, account.login, "Wrong#Pass2026")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("alert")).to_contain_text("密码错误次数过多")

    # Now even the right password is refused from here, with the lock message (not a plain "wrong password").
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(LOGIN_URL)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("密码错误次数过多，已暂停登录")
    expect(alert).not_to_contain_text("登录名或密码错误")
    expect(page.get_by_test_id("current-user")).to_have_count(0)
