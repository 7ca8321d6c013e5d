"""A clinician applies for a qualification from the phone (WeCom webview, 375x667): one column, no sideways
scrolling, the certificate photo attached, the submit button within thumb reach; the department head signs off,
and medical affairs approves on the desktop; the clinician then sees the qualification valid."""

from __future__ import annotations

import os
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.approvals import services as approvals
from portal.approvals.models import ApprovalTask
from portal.auth.models import User
from portal.core.timeutil import local_today
from portal.credentials.models import Qualification
from portal.extensions import db
from tests.e2e.helpers import Account, no_horizontal_scroll, submit_login, unique

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 667}
WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x32\x64\xc8" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"qualification-{name}.png"), full_page=True)


def sign_in(page: Page, account: Account, base_url: str) -> None:
    page.goto("/login")
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(f"{base_url}/")



def test_clinician_applies_on_the_phone_and_medical_affairs_approves_on_the_desktop(
        open_context, make_account, live_app, base_url):
    doctor = make_account("doc", roles=("clinician",), name=unique("医生")[:12])
    head = make_account("head", roles=("dept_head",))
    officer = make_account("ma", roles=("ma_admin", "ma_staff"))
    number = unique("LIC").upper()
    today = local_today()

    phone = open_context(viewport=PHONE, user_agent=WECOM_UA, has_touch=True, is_mobile=True).new_page()
    sign_in(phone, doctor, base_url)
    phone.goto("/credentials/my")
    expect(phone.get_by_role("heading", name="我的资质")).to_be_visible()
    phone.get_by_role("link", name="申请资质").first.click()
    expect(phone).to_have_url(f"{base_url}/credentials/my/apply")
    phone.get_by_label("资质类型").select_option(label="抗菌药物处方权")
    expect(phone.get_by_label("级别")).to_contain_text("特殊使用级")  # the type's own levels, swapped in
    phone.get_by_label("资质类型").select_option(label="医师执业证书")
    expect(phone.locator("#field-level")).to_contain_text("该资质没有级别")
    phone.get_by_label("证书编号").fill(number)
    phone.get_by_label("发证机关").fill("广西壮族自治区卫生健康委员会")
    phone.get_by_label("有效期起").fill((today - timedelta(days=10)).isoformat())
    phone.get_by_label("有效期至").fill((today + timedelta(days=1800)).isoformat())
    phone.locator("input[type=file][name=attachments]").set_input_files(
        {"name": "执业证书.png", "mimeType": "image/png", "buffer": png_bytes()})
    assert no_horizontal_scroll(phone)
    screenshot(phone, "apply-phone-375")
    submit = phone.get_by_role("button", name="提交审批")
    submit.scroll_into_view_if_needed()
    box = submit.bounding_box()
    assert box["width"] >= PHONE["width"] * 0.6 and box["height"] >= 40  # full width, thumb-sized
    with phone.expect_navigation():
        submit.click()
    expect(phone.locator("h1")).to_contain_text("医师执业证书")
    expect(phone.locator("h1")).to_contain_text("审批中")
    expect(phone.locator("dl.facts")).to_contain_text("第 1 步：科主任审核")  # the progress, for the applicant
    expect(phone.locator("figure.attachment img")).to_be_visible()
    assert no_horizontal_scroll(phone)
    screenshot(phone, "pending-phone-375")

    with live_app.app_context():
        record = db.session.scalar(select(Qualification).where(Qualification.number == number))
        assert record is not None and record.status == "pending"
        task_id = db.session.scalar(select(ApprovalTask.id).where(
            ApprovalTask.instance_id == record.approval_id, ApprovalTask.assignee_id == head.id,
            ApprovalTask.status == "pending"))
        approvals.act(task_id, db.session.get(User, head.id), "approve", "同意")
        db.session.commit()
        approval_id = record.approval_id

    desk = open_context(viewport=DESKTOP).new_page()
    sign_in(desk, officer, base_url)
    desk.goto(f"/approvals/{approval_id}")
    expect(desk.get_by_text(number)).to_be_visible()
    desk.get_by_label("审批意见").fill("核验原件无误")
    desk.get_by_test_id("approve").click()
    expect(desk.locator("h1")).to_contain_text("已通过")
    desk.goto(f"/credentials/qualifications?q={number}")
    row = desk.locator("table.data tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("有效")
    screenshot(desk, "list-desktop-1440")

    phone.goto("/credentials/my")
    card = phone.locator("article.qual-card", has_text="医师执业证书")
    expect(card).to_contain_text("有效")
    assert no_horizontal_scroll(phone)
    screenshot(phone, "mine-phone-375")
    with live_app.app_context():
        assert db.session.scalar(select(Qualification.status).where(Qualification.number == number)) == "active"
