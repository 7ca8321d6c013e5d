"""The home page (工作台) in a browser: panels load on their own at desktop, tablet and phone (WeCom) sizes,
the layout fits without horizontal scrolling, the phone shows the to-do first, and a failing panel shows
its own error box while the others render."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.auth.models import Department, User
from portal.casemgmt.models import Plan, PlanItem
from portal.casemgmt.tasks import services as tasks
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db
from portal.notify.services import notify
from tests import cm_factories as cm
from tests.e2e.helpers import Account, no_horizontal_scroll, submit_login, unique

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1440, "height": 900}
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 375, "height": 667}
WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")
TOUCH = 44


def sign_in(page: Page, account: Account, base_url: str) -> None:
    page.goto("/login")
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(f"{base_url}/")


def panels_loaded(page: Page) -> None:
    expect(page.locator(".home-panel").first).to_be_visible()
    expect(page.locator(".panel-skeleton")).to_have_count(0)



def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"home-{name}.png"), full_page=True)


def boxes(page: Page) -> list[dict]:
    cards = page.locator(".home-panel")
    return [cards.nth(i).bounding_box() for i in range(cards.count())]


@pytest.fixture
def office_head(live_app, make_account) -> Account:
    """Medical affairs and case-management lead in one: most panels, two unread notifications."""
    account = make_account("head", roles=("ma_admin", "cm_supervisor"), name=unique("主任")[:12])
    with live_app.app_context():
        notify([account.id], "warning", "督导问题待整改：病历书写不规范", "请于本周内提交整改措施。", push=False)
        notify([account.id], "approval", "待审批：刘医生资质审核", push=False)
        db.session.commit()
    return account


@pytest.fixture
def ward_manager(live_app, make_account, e2e_department_id) -> Account:
    """A case manager with two tasks today and one carried over from yesterday."""
    account = make_account("cmhome", roles=("case_manager",), name=unique("个管")[:12])
    today = local_today()
    with live_app.app_context():
        ward = cm.make_ward(unique("病区"), db.session.get(Department, e2e_department_id))
        manager = db.session.get(User, account.id)
        people = [cm.make_patient(name) for name in ("欧阳锋", "黄药师", "洪七公")]
        for person, bed in zip(people, ("1床", "2床", "3床"), strict=True):
            cm.enrol(person, case_manager=manager, ward=ward, bed=bed)
        now = utcnow()
        for day, group in ((today, people[:2]), (today.fromordinal(today.toordinal() - 1), people[2:])):
            plan = db.session.scalar(select(Plan).where(Plan.plan_date == day))
            if plan is None:
                plan = Plan(plan_date=day, first_submitted_at=now, last_submitted_at=now)
                db.session.add(plan)
                db.session.flush()
            for person in group:
                db.session.add(PlanItem(plan_id=plan.id, external_id=unique("E2E"), patient_id=person.id,
                                        ward_id=ward.id, bed="1床", time_slot="morning",
                                        task_type="accompany_admission", submitted_at=now))
            db.session.commit()
            tasks.build_daily_tasks(day)
            db.session.commit()
    return account


def test_desktop_lays_the_panels_out_as_a_grid_of_cards(open_context, base_url, office_head):
    page = open_context(viewport=DESKTOP).new_page()
    sign_in(page, office_head, base_url)
    panels_loaded(page)
    expect(page.locator("[data-testid=panel-error]")).to_have_count(0)
    expect(page.locator("#panel-notify-unread .figure-value")).to_have_text("2")
    expect(page.locator("#panel-casemgmt-team_day")).to_be_visible()
    expect(page.locator("#panel-casemgmt-execution")).to_be_visible()
    cards = boxes(page)
    assert len(cards) >= 6
    assert len({round(b["y"]) for b in cards[:3]}) == 1, cards[:3]  # three cards side by side
    assert no_horizontal_scroll(page), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    screenshot(page, "desktop-1440")
    page.locator("#panel-notify-unread .figure a").click()  # the number opens exactly those rows
    expect(page).to_have_url(f"{base_url}/notifications?unread=1")


def test_tablet_opens_a_case_managers_day_first_in_two_columns(open_context, base_url, ward_manager):
    page = open_context(viewport=TABLET, has_touch=True).new_page()
    sign_in(page, ward_manager, base_url)
    panels_loaded(page)
    first = page.locator(".home-panel").first
    expect(first.locator("h2")).to_have_text("今日任务")
    expect(first.locator(".figure").first).to_contain_text("3待完成")  # two today and one carried over
    expect(first.locator(".figure").nth(1)).to_contain_text("1逾期未完成")
    cards = boxes(page)
    assert round(cards[0]["y"]) == round(cards[1]["y"]) and cards[2]["y"] > cards[0]["y"], cards
    assert cards[0]["width"] > TABLET["width"] / 3
    targets = page.locator(".home-panel .panel-body a")
    for i in range(targets.count()):
        box = targets.nth(i).bounding_box()
        assert box is not None and box["height"] >= TOUCH, (targets.nth(i).inner_text(), box)
    assert no_horizontal_scroll(page), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    screenshot(page, "tablet-1024")
    first.get_by_role("link", name="打开今日任务清单").click()
    expect(page).to_have_url(f"{base_url}/casemgmt/tasks")


def test_phone_shows_one_column_with_the_todo_first(open_context, base_url, office_head):
    page = open_context(viewport=PHONE, user_agent=WECOM_UA, is_mobile=True, has_touch=True).new_page()
    sign_in(page, office_head, base_url)
    panels_loaded(page)
    cards = boxes(page)
    assert len({round(b["x"]) for b in cards}) == 1, cards  # one column
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] for b in cards), cards
    titles = page.locator(".home-panel h2")
    top = min(range(len(cards)), key=lambda i: cards[i]["y"])
    assert titles.nth(top).inner_text() == "待我审批"
    assert no_horizontal_scroll(page), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    screenshot(page, "phone-375")


def test_a_panel_that_fails_in_the_browser_shows_its_own_error_box(open_context, base_url, office_head):
    page = open_context(viewport=DESKTOP).new_page()
    sign_in(page, office_head, base_url)
    page.route("**/panels/notify.unread", lambda route: route.abort())  # the network drops this one request
    page.goto("/")
    failed = page.locator("#panel-notify-unread")
    expect(failed.get_by_test_id("panel-error")).to_contain_text("“未读通知”暂时无法显示")
    expect(page.locator("#panel-approvals-todo .figure-value")).to_have_text("0")
    expect(page.locator("[data-testid=panel-error]")).to_have_count(1)
    page.unroute("**/panels/notify.unread")
    failed.get_by_role("button", name="重新加载").click()
    expect(failed.locator(".figure-value")).to_have_text("2")
    expect(failed.get_by_test_id("panel-error")).to_have_count(0)
