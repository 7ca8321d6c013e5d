"""A clinician applies for a technology privilege on a phone in WeCom (375 x 667); the department head and
medical affairs approve on desktop; HIS's check then lets the clinician perform it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.core.timeutil import local_today
from portal.credentials.models import Privilege
from portal.credentials.privileges import check
from portal.extensions import db
from tests.e2e.helpers import no_horizontal_scroll, submit_login, unique
from tests.privilege_factories import make_tech

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}
WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")



def approve_on_desktop(open_context, account, title_part: str) -> None:
    page = open_context(viewport={"width": 1440, "height": 900}).new_page()
    page.goto("/login")
    submit_login(page, account.login, account.password)
    page.goto("/approvals/todo")
    page.get_by_role("link", name=re.compile(re.escape(title_part))).first.click()
    expect(page.get_by_test_id("approve")).to_be_visible()
    page.locator('textarea[name="comment"]').fill("同意。")
    page.get_by_test_id("approve").click()
    expect(page.locator("#instance-body .alert-success")).to_be_visible()


def test_a_clinician_applies_on_the_phone_and_the_head_and_office_approve(live_app, make_account, open_context,
                                                                          e2e_department_id):
    code = unique("PCI").upper()
    with live_app.app_context():
        from portal.auth.models import Department

        make_tech(code, 3, "interventional", departments=[db.session.get(Department, e2e_department_id)])
    clinician = make_account("clin", roles=("clinician",), name=unique("申请医生"))
    head = make_account("head", roles=("dept_head",), name=unique("主任"))
    office = make_account("ywk", roles=("ma_staff",), name=unique("医务"))

    phone = open_context(viewport=PHONE, has_touch=True, is_mobile=True, user_agent=WECOM_UA).new_page()
    phone.goto("/login")
    submit_login(phone, clinician.login, clinician.password)
    phone.goto("/credentials/privileges/my")
    expect(phone.get_by_role("heading", name="我的授权")).to_be_visible()
    assert no_horizontal_scroll(phone)
    phone.get_by_role("link", name="申请授权").first.tap()
    expect(phone.get_by_role("heading", name="申请授权")).to_be_visible()
    phone.locator('input[name="technology"]').fill(code)
    phone.locator('input[name="valid_to"]').fill((local_today() + timedelta(days=730)).isoformat())
    phone.locator('textarea[name="reason"]').fill("在上级医师指导下完成 30 例，申请独立开展。")
    assert no_horizontal_scroll(phone)
    submit = phone.get_by_role("button", name="提交审批")
    box = submit.bounding_box()
    assert box and box["height"] >= 44  # a thumb-sized target
    with phone.expect_navigation():
        submit.tap()
    expect(phone.locator(".alert-success")).to_contain_text("授权申请已提交")
    expect(phone.get_by_role("heading", level=1)).to_contain_text("审批中")
    assert no_horizontal_scroll(phone)

    title = f"手术{code}"
    approve_on_desktop(open_context, head, title)
    approve_on_desktop(open_context, office, title)

    with live_app.app_context():
        from portal.catalogue.models import Technology

        record = db.session.scalar(select(Privilege).join(Technology, Technology.id == Privilege.technology_id)
                                   .where(Technology.code == code))
        assert record is not None and record.status == "active" and record.staff.user.login_name == clinician.login
        answer = check.check(record.staff.employee_no, code, "perform", local_today())
        db.session.rollback()
        assert answer.allowed, answer.reason
    phone.goto("/credentials/privileges/my")
    expect(phone.locator(".qual-card").filter(has_text=title).first).to_contain_text("有效")
