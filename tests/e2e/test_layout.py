"""The layout at desktop, tablet and phone (WeCom webview) sizes, as a user relies on it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import no_horizontal_scroll, submit_login, unique

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1440, "height": 900}
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 375, "height": 667}
WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")
ADMIN_LINKS = ("用户管理", "角色与权限", "科室管理", "人员档案")


def sign_in(page: Page, account, base_url: str) -> None:
    page.goto("/login")
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(f"{base_url}/")



def test_desktop_shows_the_sidebar_with_admin_links(open_context, sysadmin_state, base_url):
    page = open_context(viewport=DESKTOP, storage_state=sysadmin_state).new_page()
    page.goto("/")

    sidebar = page.locator("aside.sidebar")
    expect(sidebar).to_be_visible()
    expect(sidebar.get_by_text("系统管理", exact=True)).to_be_visible()
    for label in ADMIN_LINKS:
        expect(sidebar.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.locator("details.nav-toggle")).to_be_hidden()
    # The sidebar sits to the left of the content, which keeps the rest of the width.
    side, main = sidebar.bounding_box(), page.locator("main#main").bounding_box()
    assert side["x"] + side["width"] <= main["x"] + 1
    assert main["width"] > DESKTOP["width"] / 2

    sidebar.get_by_role("link", name="用户管理", exact=True).click()
    expect(page).to_have_url(f"{base_url}/admin/users")
    expect(sidebar.get_by_role("link", name="用户管理", exact=True)).to_have_attribute("aria-current", "page")
    assert no_horizontal_scroll(page)


def test_desktop_sidebar_hides_admin_links_from_a_user_without_the_role(open_context, make_account, base_url):
    page = open_context(viewport=DESKTOP).new_page()
    sign_in(page, make_account("clinician", roles=("clinician",)), base_url)
    sidebar = page.locator("aside.sidebar")
    expect(sidebar).to_be_visible()
    expect(sidebar.get_by_role("link", name="首页")).to_be_visible()
    expect(sidebar).not_to_contain_text("系统管理")
    expect(sidebar.get_by_role("link", name="用户管理")).to_have_count(0)


def test_tablet_collapses_navigation_into_a_touch_friendly_menu(open_context, sysadmin_state, base_url):
    page = open_context(viewport=TABLET, has_touch=True, storage_state=sysadmin_state).new_page()
    page.goto("/")

    expect(page.locator("aside.sidebar")).to_be_hidden()
    toggle = page.locator("details.nav-toggle")
    summary = toggle.locator("summary")
    expect(summary).to_be_visible()
    menu_links = toggle.locator(".nav a")
    expect(menu_links.first).to_be_hidden()

    summary.click()
    expect(toggle).to_have_attribute("open", "")
    expect(toggle.get_by_text("系统管理", exact=True)).to_be_visible()
    for label in ADMIN_LINKS:
        expect(toggle.get_by_role("link", name=label, exact=True)).to_be_visible()

    # Touch targets: every menu link and the sign-out button are at least 44px tall.
    targets = [page.get_by_role("button", name="退出", exact=True)]
    targets += [menu_links.nth(i) for i in range(menu_links.count())]
    assert len(targets) >= 1 + 1 + len(ADMIN_LINKS)
    for target in targets:
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44, (target, box)
    assert no_horizontal_scroll(page)

    toggle.get_by_role("link", name="用户管理", exact=True).click()
    expect(page).to_have_url(f"{base_url}/admin/users")
    expect(page.get_by_role("heading", level=1)).to_contain_text("用户管理")


def test_tablet_tick_boxes_stay_square_and_their_labels_are_the_touch_target(open_context, sysadmin_state):
    page = open_context(viewport=TABLET, has_touch=True, storage_state=sysadmin_state).new_page()
    page.goto("/admin/roles/new")
    tick = page.locator('input[type=checkbox][name="permissions"]').first
    expect(tick).to_be_visible()
    box = tick.bounding_box()
    assert box["height"] < 30 and abs(box["height"] - box["width"]) < 4, box  # not stretched to a 44px bar
    label = page.locator("label.check").first.bounding_box()
    assert label["height"] >= 44, label
    assert no_horizontal_scroll(page)


def test_tablet_menu_toggle_is_a_44px_touch_target(open_context, sysadmin_state):
    page = open_context(viewport=TABLET, has_touch=True, storage_state=sysadmin_state).new_page()
    page.goto("/")
    summary = page.locator("details.nav-toggle summary")
    expect(summary).to_be_visible()
    box = summary.bounding_box()
    assert box["height"] >= 44, box


def test_phone_in_wecom_login_page_is_usable(open_context, make_account, base_url):
    account = make_account("phone")
    page = open_context(viewport=PHONE, user_agent=WECOM_UA, is_mobile=True, has_touch=True).new_page()
    page.goto("/login")
    assert no_horizontal_scroll(page)
    for locator in (page.locator('input[name="login_name"]'), page.locator('input[name="password"]'),
                    page.get_by_role("button", name="登录", exact=True)):
        expect(locator).to_be_visible()
        box = locator.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        assert box["height"] >= 44, box
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(f"{base_url}/")
    expect(page.get_by_test_id("current-user")).to_be_visible()
    assert no_horizontal_scroll(page)


def test_phone_in_wecom_user_list_is_stacked_cards_without_horizontal_scroll(open_context, sysadmin_state,
                                                                          make_account):
    tag = unique("ph")
    # A long, unbreakable login name is what pushes a phone page sideways.
    long_one = make_account(login=f"{tag}-" + "x" * 45, name="欧阳" + "长" * 30)
    short_one = make_account(login=f"{tag}-a")
    page = open_context(viewport=PHONE, user_agent=WECOM_UA, is_mobile=True, has_touch=True,
                        storage_state=sysadmin_state).new_page()
    page.goto(f"/admin/users?q={tag}&sort=-login_name")

    table = page.locator("#list table.data")
    expect(table).to_be_attached()
    expect(table.locator("thead")).to_be_hidden()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(long_one.login)
    assert no_horizontal_scroll(page)

    first, second = rows.nth(0).bounding_box(), rows.nth(1).bounding_box()
    # Cards: one per row, within the screen, one under the other.
    assert second["y"] >= first["y"] + first["height"], (first, second)
    for box in (first, second):
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert rows.nth(0).evaluate("tr => getComputedStyle(tr).display") == "block"
    # Each cell carries its column name, since the header row is hidden.
    label = rows.nth(0).locator("td").first.evaluate("td => getComputedStyle(td, '::before').content")
    assert "登录名" in label

    # The search box fits the screen and still filters the list in place.
    search = page.get_by_role("searchbox", name="搜索")
    box = search.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    search.fill(short_one.login)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(short_one.login)
    assert no_horizontal_scroll(page)

    # The other filters wait behind the 筛选 toggle, which counts the ones in use.
    status = page.get_by_label("状态")
    expect(status).to_be_hidden()
    toggle = page.get_by_test_id("filters-toggle")
    expect(toggle).to_have_text("筛选")
    toggle.click()
    expect(status).to_be_visible()
    status.select_option("inactive")
    expect(rows).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id("filters-toggle")).to_have_text("筛选（已选 1 项）")
    expect(page.get_by_label("状态")).to_be_hidden()
    assert no_horizontal_scroll(page)
