"""Capability pages in the browser: a department head opens the department page on the desktop (figures,
grade x category cells that lead to their rows, the staff list leading to a person); a clinician opens their own
page in WeCom on the phone (375x667): one column, no sideways scrolling, the technology search swapping in."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.catalogue.models.technologies import Technology, TechnologyDepartment
from portal.core.timeutil import local_today
from portal.credentials.models.privileges import Privilege
from portal.extensions import db
from tests.e2e.helpers import Account, no_horizontal_scroll, submit_login, unique

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1440, "height": 900}
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 375, "height": 667}
WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"capability-{name}.png"), full_page=True)


def sign_in(page: Page, account: Account, base_url: str) -> None:
    page.goto("/login")
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(f"{base_url}/")



@pytest.fixture
def capable_doctor(live_app, make_account, e2e_department_id):
    doctor = make_account("capdoc", roles=("clinician",), name=unique("医生")[:12])
    today = local_today()
    prefix = unique("CAP").upper()
    with live_app.app_context():
        techs = []
        for n, (grade, category, restricted) in enumerate([(2, "surgery", False), (3, "surgery", False),
                                                           (3, "surgery", True), (2, "endoscopy", False)]):
            tech = Technology(code=f"{prefix}-{n}", name=f"能力测试术式{n}", category=category, grade=grade,
                              restricted=restricted, prerequisites=[])
            db.session.add(tech)
            db.session.flush()
            db.session.add(TechnologyDepartment(technology_id=tech.id, department_id=e2e_department_id))
            techs.append(tech)
        from portal.auth.models import User

        staff_id = db.session.get(User, doctor.id).staff_id
        db.session.add_all([
            Privilege(staff_id=staff_id, kind="grade", grade=3, categories="surgery", can_order=True,
                      can_perform=True, valid_from=today - timedelta(days=30), valid_to=today + timedelta(days=60),
                      status="active"),
            Privilege(staff_id=staff_id, kind="technology", technology_id=techs[2].id, can_order=False,
                      can_perform=True, valid_from=today - timedelta(days=30), valid_to=today + timedelta(days=700),
                      status="active")])
        db.session.commit()
    return doctor, staff_id, prefix


def test_department_page_on_the_desktop_and_own_page_on_a_wecom_phone(open_context, make_account, base_url,
                                                                       capable_doctor):
    doctor, _staff_id, prefix = capable_doctor
    head = make_account("caphead", roles=("dept_head",))

    desk = open_context(viewport=DESKTOP).new_page()
    sign_in(desk, head, base_url)
    desk.get_by_role("link", name="能力展示").first.click()
    expect(desk.locator("h1")).to_contain_text("科室能力")
    expect(desk.get_by_test_id("grade-category")).to_contain_text("三级")
    expect(desk.get_by_test_id("expiring-privileges")).to_contain_text(doctor.name)
    screenshot(desk, "department-1440")
    # The staff search swaps the list in place.
    desk.get_by_label("搜索人员").fill(doctor.name)
    expect(desk.get_by_test_id("staff-rows").locator("tbody tr")).to_have_count(1)
    # A number of the grade x category table opens exactly its rows.
    cell = desk.get_by_test_id("grade-category").locator("a[href*='column=privileges'][href*='k_grade=3']").first
    count = int(cell.inner_text())
    with desk.expect_navigation():
        cell.click()
    expect(desk.locator(".pager-info")).to_contain_text(f"共 {count} 条")
    desk.go_back()
    with desk.expect_navigation():
        desk.get_by_test_id("staff-rows").get_by_role("link", name=doctor.name).click()
    expect(desk.locator("h1")).to_contain_text(f"{doctor.name}的能力")
    expect(desk.get_by_test_id("performable")).to_contain_text("（3）")
    screenshot(desk, "person-1440")
    desk.goto("/reports/cap_department_privileges")
    expect(desk.locator("table.report")).to_contain_text("心内科")
    screenshot(desk, "report-1440")

    tablet = open_context(viewport=TABLET).new_page()
    sign_in(tablet, head, base_url)
    tablet.goto("/credentials/capability/departments")
    expect(tablet.get_by_test_id("department-figures")).to_be_visible()
    assert no_horizontal_scroll(tablet)
    screenshot(tablet, "department-1024")

    head_phone = open_context(viewport=PHONE, user_agent=WECOM_UA, has_touch=True, is_mobile=True).new_page()
    sign_in(head_phone, head, base_url)
    head_phone.goto("/credentials/capability/departments")
    expect(head_phone.get_by_test_id("department-staff")).to_contain_text(doctor.name)
    assert no_horizontal_scroll(head_phone)
    screenshot(head_phone, "department-375")

    phone = open_context(viewport=PHONE, user_agent=WECOM_UA, has_touch=True, is_mobile=True).new_page()
    sign_in(phone, doctor, base_url)
    phone.goto("/credentials/capability/me")
    expect(phone.locator("h1")).to_contain_text(f"{doctor.name}的能力")
    expect(phone.get_by_test_id("operations-pending")).to_contain_text("质量结局")
    expect(phone.get_by_test_id("technology-rows")).to_contain_text(f"{prefix}-2")
    assert no_horizontal_scroll(phone)
    screenshot(phone, "person-375")
    phone.get_by_label("搜索技术").fill(f"{prefix}-1")
    expect(phone.get_by_test_id("technology-rows").locator("tbody tr")).to_have_count(1)
    expect(phone.get_by_test_id("technology-rows")).not_to_contain_text(f"{prefix}-3")  # endoscopy: not covered
    assert no_horizontal_scroll(phone)
