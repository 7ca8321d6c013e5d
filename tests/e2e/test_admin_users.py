"""User administration in the browser: creating an account, and the htmx-driven list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import submit_login, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
def admin_page(open_context, sysadmin_state) -> Page:
    """A desktop browser signed in as the sysadmin."""
    return open_context(viewport={"width": 1440, "height": 900}, storage_state=sysadmin_state).new_page()


def test_sysadmin_creates_a_user_who_must_then_change_the_password(admin_page: Page, make_staff, open_context,
                                                                    base_url):
    page = admin_page
    staff_name = unique("赵医生")
    staff_id, employee_no = make_staff(staff_name)
    login = unique("new")
    initial = "Welcome#2026x"

    page.goto("/admin/users")
    page.get_by_role("link", name="新建用户").first.click()
    expect(page).to_have_url(f"{base_url}/admin/users/new")
    form = page.locator("#user-form")
    form.locator('input[name="login_name"]').fill(login)
    form.locator('input[name="password"]').fill(initial)
    # The staff picker offers the new staff record (no account yet) by employee number and name.
    expect(form.locator(f'select[name="staff_id"] option[value="{staff_id}"]')).to_contain_text(
        f"{employee_no} {staff_name}")
    form.locator('select[name="staff_id"]').select_option(value=str(staff_id))
    form.locator('input[name="wecom_userid"]').fill(f"wx.{login}")
    form.get_by_role("checkbox", name="临床医师").check()
    form.get_by_role("button", name="创建用户").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(base_url)}/admin/users/\d+$"))
    expect(page.locator("#messages")).to_contain_text(f"已创建用户 {login}。")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"用户 {login}")
    # The saved account shows what was chosen.
    expect(page.locator('#user-form input[name="login_name"]')).to_have_value(login)
    expect(page.locator('#user-form select[name="staff_id"]')).to_have_value(str(staff_id))
    expect(page.locator('#user-form input[name="role_ids"]:checked')).to_have_count(1)
    expect(page.locator("#user-form").get_by_role("checkbox", name="临床医师")).to_be_checked()

    # In the list it is waiting for its first password change.
    page.goto(f"/admin/users?q={login}")
    row = page.locator("#list tbody tr").filter(has_text=login)
    expect(row).to_contain_text(staff_name)
    expect(row).to_contain_text("临床医师")
    expect(row).to_contain_text("待改密")

    # The new user signs in (in a browser of their own) and must change the password first.
    other = open_context(viewport={"width": 1440, "height": 900}).new_page()
    other.goto("/login")
    submit_login(other, login, initial)
    expect(other).to_have_url(f"{base_url}/account/password")
    expect(other.get_by_test_id("current-user")).to_have_text(staff_name)
    other.goto("/")
    expect(other).to_have_url(f"{base_url}/account/password")


def test_create_user_form_errors_are_shown_in_place(admin_page: Page, base_url):
    page = admin_page
    login = unique("bad")
    page.goto("/admin/users/new")
    form = page.locator("#user-form")
    form.locator('input[name="login_name"]').fill(login)
    form.locator('input[name="password"]').fill("short")
    form.get_by_role("checkbox", name="临床医师").check()
    page.evaluate("window.__noReload = true")
    form.get_by_role("button", name="创建用户").click()

    expect(page.locator("#field-password small.error")).to_contain_text("密码至少需要 8 位")
    expect(page).to_have_url(f"{base_url}/admin/users/new")
    # htmx swapped the form in place: the page was not reloaded, and what was typed is kept.
    assert page.evaluate("window.__noReload") is True
    expect(page.locator('#user-form input[name="login_name"]')).to_have_value(login)
    expect(page.locator("#user-form")).to_have_count(1)


def test_search_updates_the_table_in_place_and_pushes_the_url(admin_page: Page, make_account, base_url):
    page = admin_page
    tag = unique("find")
    wanted = make_account(login=f"{tag}-a", name="搜索目标")
    other = make_account(login=f"{tag}-b")
    page.goto(f"/admin/users?q={tag}&sort=-login_name")
    rows = page.locator("#list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(other.login)
    page.evaluate("window.__noReload = true")

    page.get_by_role("searchbox", name="搜索").fill(wanted.login)

    expect(page).to_have_url(re.compile(rf"[?&]q={re.escape(wanted.login)}(&|$)"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(wanted.login)
    expect(rows.first).to_contain_text("搜索目标")
    expect(page.locator("#list")).not_to_contain_text(other.login)
    expect(page.locator("#list-count")).to_have_text("（1）")
    # The sort is kept in the pushed URL; the page itself was not reloaded.
    assert "sort=-login_name" in page.url
    assert page.evaluate("window.__noReload") is True
    expect(page.get_by_role("heading", level=1)).to_contain_text("用户管理")
    expect(page.get_by_test_id("current-user")).to_be_visible()

    # A search that matches nobody shows the empty state, still in place.
    page.get_by_role("searchbox", name="搜索").fill(unique("nobody"))
    expect(page.locator("#list .empty-state")).to_contain_text("没有符合条件的用户")
    expect(page.locator("#list-count")).to_have_text("（0）")
    assert page.evaluate("window.__noReload") is True


def test_back_button_after_a_search_restores_the_whole_page(admin_page: Page, make_account, base_url):
    page = admin_page
    wanted = make_account("hist")
    page.goto("/admin/users")
    page.get_by_role("searchbox", name="搜索").fill(wanted.login)
    expect(page).to_have_url(re.compile(r"[?&]q="))
    expect(page.locator("#list tbody tr")).to_have_count(1)

    # Wait until Back has finished: either htmx restored the page in place or the browser reloaded it.
    page.evaluate("""() => {
        window.__beforeBack = true;
        document.addEventListener("htmx:historyRestore", () => { window.__restored = true; });
    }""")
    page.go_back()
    page.wait_for_function("() => window.__beforeBack === undefined || window.__restored === true")
    page.wait_for_load_state()
    expect(page).to_have_url(f"{base_url}/admin/users")
    # The layout (top bar, heading, filter bar) must still be there, not just the table partial.
    expect(page.get_by_test_id("current-user")).to_be_visible(timeout=1000)
    expect(page.get_by_role("heading", level=1)).to_contain_text("用户管理")
    expect(page.get_by_role("searchbox", name="搜索")).to_have_value("")
    expect(page.locator("#list tbody tr").first).to_be_visible()


def test_failed_htmx_request_shows_the_chinese_error_in_the_toast(admin_page: Page, make_account):
    page = admin_page
    make_account("toast")
    page.goto("/admin/users")
    rows = page.locator("#list tbody tr")
    expect(rows.first).to_be_visible()
    before = rows.count()
    expect(page.locator("#toast")).to_be_empty()

    page.evaluate("htmx.ajax('GET', '/admin/users?sort=bad', '#list')")

    toast = page.locator("#toast")
    expect(toast.get_by_role("alert")).to_be_visible()
    expect(toast).to_contain_text("请求有误")
    expect(toast).to_contain_text("排序字段无效")
    # The table was not blanked or replaced by the error.
    expect(page.locator("#list table.data")).to_be_visible()
    expect(rows).to_have_count(before)
    expect(page.locator("#list")).not_to_contain_text("排序字段无效")
