"""Study records in the browser: a clinician signs in to a session on a WeCom phone through the session's link,
the department secretary ticks the others on a tablet, and medical affairs reads the matrix on a wide screen."""

# ruff: noqa: F811  (the fixtures imported from tests.e2e.wecom_live are parameters of the tests)
from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.core.months import current_month
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.study.models import StudyAttendance, StudyPlan, StudyRecord, StudySession
from tests import factories
from tests.e2e.helpers import no_horizontal_scroll, submit_login
from tests.e2e.wecom_live import PHONE, WeComLive, wecom_live, wecom_phone  # noqa: F401

pytestmark = pytest.mark.e2e

TABLET = {"width": 1024, "height": 768}
DESKTOP = {"width": 1440, "height": 900}


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"study-{name}.png"), full_page=True)



def session_under_way(wecom_live: WeComLive) -> tuple[int, str]:
    """Cardiology's approved plan of this month with a session that started two minutes ago: (record id, token)."""
    with wecom_live.app.app_context():
        tree = factories.make_tree()
        factories.make_user("sec", ["dept_secretary"], tree.cardiology, name="孙秘书")
        factories.make_user("doc", ["clinician"], tree.cardiology, name="刘医生", wecom_userid="doc")
        factories.make_user("doc2", ["clinician"], tree.cardiology_ward, name="王医生")
        factories.make_user("yiwu", ["ma_admin", "ma_staff"], tree.hospital, name="李科长")
        month = current_month()
        plan = StudyPlan(department_id=tree.cardiology.id, month=month, status="approved", note="")
        session = StudySession(plan=plan, day=local_today(), topic="心电图判读", speaker="张主任",
                               attendees="全科医师", hours=60)
        record = StudyRecord(session=session, department_id=tree.cardiology.id, month=month, held_on=session.day,
                             starts_at=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2), minutes=60,
                             topic=session.topic, speaker=session.speaker, summary="", status="draft",
                             signin_token=secrets.token_urlsafe(16))
        db.session.add_all([plan, session, record])
        db.session.commit()
        return record.id, record.signin_token


def test_clinician_signs_in_on_the_phone_and_the_secretary_ticks_on_a_tablet(wecom_live, wecom_phone, browser):
    record_id, token = session_under_way(wecom_live)
    wecom_live.fake.add_member("doc")
    wecom_live.fake.browser_user = "doc"
    # The phone: the session's link (from the QR code) opens in WeCom, signed in through WeCom's OAuth.
    phone = wecom_phone.new_page()
    link = f"{wecom_live.base_url}/study/signin/{token}"
    phone.goto(link)
    expect(phone).to_have_url(re.compile(rf"^{re.escape(link)}(#.*)?$"))
    expect(phone.get_by_test_id("current-user")).to_have_text("刘医生")
    button = phone.get_by_role("button", name="本人签到（刘医生）")
    expect(button).to_be_visible()
    phone.wait_for_load_state("networkidle")
    screenshot(phone, "signin-phone-375")
    assert no_horizontal_scroll(phone), phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    button.tap()
    expect(phone.get_by_role("status")).to_contain_text("已签到")
    assert no_horizontal_scroll(phone)
    screenshot(phone, "signed-phone-375")
    # The secretary on a tablet: the record shows the sign-in; tick the colleague who forgot the phone.
    tablet_context = browser.new_context(base_url=wecom_live.base_url, locale="zh-CN", viewport=TABLET,
                                         has_touch=True)
    try:
        tablet = tablet_context.new_page()
        tablet.goto("/login")
        submit_login(tablet, "sec", factories.PASSWORD)
        tablet.goto(f"/study/records/{record_id}")
        expect(tablet.get_by_role("heading", name=re.compile("出勤人员（1）"))).to_be_visible()
        expect(tablet.get_by_alt_text("签到二维码")).to_be_visible()
        box = tablet.get_by_label("王医生").bounding_box()
        assert box is not None
        tablet.get_by_label("王医生").tap()
        assert tablet.get_by_label("刘医生").is_checked()
        with tablet.expect_navigation():
            tablet.get_by_role("button", name="保存出勤").tap()
        expect(tablet.get_by_role("heading", name=re.compile("出勤人员（2）"))).to_be_visible()
        assert no_horizontal_scroll(tablet)
        screenshot(tablet, "record-tablet-1024")
    finally:
        tablet_context.close()
    with wecom_live.app.app_context():
        rows = db.session.scalars(select(StudyAttendance).where(StudyAttendance.record_id == record_id)
                                  .order_by(StudyAttendance.id)).all()
        assert [r.method for r in rows] == ["signin", "ticked"]


def test_the_matrix_on_a_wide_screen_and_a_department_row_on_the_phone(wecom_live, wecom_phone, browser):
    session_under_way(wecom_live)
    context = browser.new_context(base_url=wecom_live.base_url, locale="zh-CN", viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto("/login")
        submit_login(page, "yiwu", factories.PASSWORD)
        page.goto("/study")
        expect(page.get_by_role("heading", name=re.compile("业务学习完成情况"))).to_be_visible()
        cell = page.get_by_role("row", name=re.compile("心内科")).get_by_role("link", name="记录部分完成")
        expect(cell).to_be_visible()
        screenshot(page, "matrix-desktop-1440")
        page.set_viewport_size(TABLET)
        screenshot(page, "matrix-tablet-1024")
        cell.click()
        expect(page.get_by_role("heading", name=re.compile("心内科 · .*业务学习"))).to_be_visible()
        screenshot(page, "month-tablet-1024")
        page.set_viewport_size(PHONE)
        page.get_by_role("link", name="全年").click()
        expect(page.get_by_text("计划 1 次")).to_be_visible()
        assert no_horizontal_scroll(page)
        screenshot(page, "row-phone-375")
        page.goto("/study")  # the whole matrix on the phone: one card per department, no sideways scrolling
        expect(page.get_by_role("link", name="记录部分完成")).to_be_visible()
        assert no_horizontal_scroll(page)
        # Each month cell of a card is labelled with its month (from the stylesheet), the rate with 完成率.
        row = page.get_by_role("row", name=re.compile("心内科"))
        labels = row.locator("td").evaluate_all("cells => cells.map(c => getComputedStyle(c, '::before').content)")
        assert labels == [f'"{n}月："' for n in range(1, 13)] + ['"完成率："'], labels
        expect(row.get_by_role("cell", name=f"{current_month().month}月： 记录部分完成")).to_be_visible()
        screenshot(page, "matrix-phone-375")
    finally:
        context.close()
