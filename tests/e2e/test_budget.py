"""Key-project budgets in the browser: a department head checks execution on a WeCom phone; medical affairs
enters an expenditure on a desktop and sees the figures change in place of the old ones."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.budget.expenditures import services as spending
from portal.budget.models import BudgetLine
from portal.budget.money import parse_money
from portal.budget.projects import services as projects
from portal.core.timeutil import local_today
from portal.extensions import db
from tests.e2e.helpers import no_horizontal_scroll, submit_login, unique

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}
TABLET = {"width": 1024, "height": 768}
WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")
SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-screenshots"))


@pytest.fixture
def budget(live_app, make_account, e2e_department_id):
    head = make_account("bhead", roles=("dept_head",), name=unique("主任")[:12])
    ma = make_account("bma", roles=("ma_admin", "ma_staff"), name=unique("医务")[:12])
    year = local_today().year
    with live_app.app_context():
        project = projects.create_project(
            code=unique("ZD"), name="胸痛中心建设", department_id=e2e_department_id, start_date=date(year, 1, 1),
            end_date=date(year, 12, 31), lines="\n".join([
                f"A | 设备购置 | 设备购置 | {year} | 0", f"A01 | 心电监护设备 | 设备购置 | {year} | 300,000.00 | A",
                f"A02 | 转运设备 | 设备购置 | {year} | 120,000.00 | A",
                f"B01 | 培训与会议 | 培训与会议 | {year} | 50,000.00"]))
        a01 = next(line for line in project.lines if line.code == "A01")
        spending.add_expenditure(project, None, line_id=a01.id, spent_on=date(year, 2, 1),
                                 amount=parse_money("246,800.00"), description="监护仪", voucher_no=unique("V"))
        project_id = project.id
        db.session.commit()
        b01 = db.session.scalar(select(BudgetLine.id).where(BudgetLine.project_id == project_id,
                                                            BudgetLine.code == "B01"))
        return {"head": head, "ma": ma, "id": project_id, "b01": b01}



def test_a_department_head_checks_execution_on_a_wecom_phone(browser, base_url, budget):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=base_url, locale="zh-CN", viewport=PHONE, has_touch=True,
                                  user_agent=WECOM_UA)
    try:
        page = context.new_page()
        page.goto("/login")
        submit_login(page, budget["head"].login, budget["head"].password)
        panel = page.locator('[data-panel="budget.execution"]')
        expect(panel).to_contain_text("胸痛中心建设")
        assert no_horizontal_scroll(page)
        page.screenshot(path=str(SHOTS / "budget-home-phone-375.png"), full_page=True)
        with page.expect_navigation():
            panel.get_by_role("link", name="胸痛中心建设").click()
        expect(page.locator("h1")).to_contain_text("胸痛中心建设")
        expect(page.locator("#execution")).to_contain_text("¥246,800.00")
        expect(page.locator("#execution")).to_contain_text("对照预算版本 V1")
        expect(page.locator("#warnings")).to_contain_text("已达 80% 预警线")
        expect(page.get_by_role("link", name="登记支出")).to_have_count(0)  # a head sees, medical affairs enters
        assert no_horizontal_scroll(page)
        page.screenshot(path=str(SHOTS / "budget-project-phone-375.png"), full_page=True)
    finally:
        context.close()


def test_medical_affairs_enters_an_expenditure_on_the_desktop(browser, base_url, budget):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=base_url, locale="zh-CN", viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto("/login")
        submit_login(page, budget["ma"].login, budget["ma"].password)
        page.goto("/budget")
        expect(page.get_by_role("link", name="胸痛中心建设").first).to_be_visible()
        page.screenshot(path=str(SHOTS / "budget-dashboard-1440.png"), full_page=True)
        for size in ({"width": 1440, "height": 900}, TABLET, PHONE):  # the filter's tick box stays a square
            page.set_viewport_size(size)
            if size == PHONE:  # on a phone the filters wait behind the 筛选 toggle
                expect(page.get_by_label("只看有预警的")).to_be_hidden()
                page.get_by_test_id("filters-toggle").click()
            box = page.get_by_label("只看有预警的").bounding_box()
            assert box and box["width"] < 30 and abs(box["width"] - box["height"]) < 4, (size, box)
        page.set_viewport_size({"width": 1440, "height": 900})
        page.goto(f"/budget/projects/{budget['id']}")
        with page.expect_navigation():
            page.get_by_role("link", name="登记支出").click()
        page.get_by_label("预算科目").select_option(str(budget["b01"]))
        page.get_by_label("支出日期").fill(f"{local_today().year}-03-15")
        page.get_by_label("金额（元）").fill("-12")
        page.get_by_label("摘要").fill("全院胸痛培训")
        page.get_by_label("凭证号").fill(unique("JZ"))
        with page.expect_navigation():
            page.get_by_role("button", name="登记支出").click()
        expect(page.locator("form[enctype]")).to_contain_text("金额必须大于 0")
        page.get_by_label("金额（元）").fill("¥12,345.60")
        with page.expect_navigation():
            page.get_by_role("button", name="登记支出").click()
        expect(page.locator("body")).to_contain_text("支出已登记")
        row = page.locator("#execution tr", has_text="B01")
        expect(row).to_contain_text("¥12,345.60")
        expect(row).to_contain_text("¥37,654.40")
        page.screenshot(path=str(SHOTS / "budget-project-1440.png"), full_page=True)
        page.set_viewport_size(TABLET)
        assert no_horizontal_scroll(page)
        page.screenshot(path=str(SHOTS / "budget-project-1024.png"), full_page=True)
        page.goto(f"/budget/projects/{budget['id']}/accounts")
        page.screenshot(path=str(SHOTS / "budget-accounts-1024.png"), full_page=True)
    finally:
        context.close()
