"""The technology catalogue in the browser: search, filter and bulk-disable at the desk; the list on a phone.

Set PORTAL_SHOTS=<folder> to keep screenshots of the catalogue pages at 1440x900, 1024x768 and 375x667 as the
layout test checks them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.catalogue.models import Technology
from portal.catalogue.technologies import services as catalogue
from portal.core.actor import SYSTEM, acting_as
from portal.extensions import db
from tests.conftest import xlsx_bytes
from tests.e2e.helpers import no_horizontal_scroll, submit_login, unique

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}
TABLET = {"width": 1024, "height": 768}
DESKTOP = {"width": 1440, "height": 900}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def catalogue_entries(live_app, e2e_department_id):
    """Four entries under a unique code prefix (the live database is shared by every browser test)."""
    prefix = unique("CT").upper().replace("-", "")
    rows = [("1", "腹腔镜下胆囊切除术", 3, "surgery", {"minimally_invasive": True}),
            ("2", "根治性远端胃切除术", 4, "surgery", {"perf_grade4": True}),
            ("3", "经皮冠状动脉支架植入术", 4, "interventional", {"perf_grade4": True, "minimally_invasive": True}),
            ("4", "放射性粒子植入术", 4, "interventional", {"restricted": True})]
    with live_app.app_context(), acting_as(SYSTEM):
        ids = []
        for suffix, name, grade, category, flags in rows:
            tech = catalogue.create_technology({"code": f"{prefix}{suffix}", "name": name, "grade": grade,
                                                "category": category, "national_code": f"47.{suffix}x001", **flags},
                                               [e2e_department_id], reason="测试数据")
            ids.append(tech.id)
        catalogue.update_technology(db.session.get(Technology, ids[0]), {"grade": 2}, None, reason="年度调整")
        db.session.commit()
    return prefix, ids


def _sign_in(page: Page, account, path: str) -> None:
    page.goto("/login")
    submit_login(page, account.login, account.password)
    page.goto(path)



def test_search_filter_and_bulk_disable_at_the_desk(page: Page, make_account, live_app, catalogue_entries):
    prefix, _ = catalogue_entries
    account = make_account("ma", roles=("ma_staff",))
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    _sign_in(page, account, "/catalogue/technologies")
    rows = page.get_by_test_id("technology-row")
    page.get_by_role("searchbox", name="搜索").fill(prefix.lower())  # case-insensitive
    expect(rows).to_have_count(4)
    expect(page).to_have_url(re.compile(rf"q={prefix.lower()}"))
    page.get_by_label("手术等级").select_option("4")
    expect(rows).to_have_count(3)
    page.get_by_label("类别").select_option("interventional")
    expect(rows).to_have_count(2)
    expect(page.locator("#list-count")).to_have_text("（2）")
    page.get_by_label("全选本页").check()
    bulk = page.get_by_test_id("bulk-form")
    bulk.get_by_label("操作").select_option("disable")
    bulk.get_by_label("原因").fill("年度目录清理")
    with page.expect_navigation():
        bulk.get_by_role("button", name="执行").click()
    expect(page.get_by_text("已停用 2 条")).to_be_visible()
    expect(rows).to_have_count(2)  # the filters are kept after the action
    expect(rows.first.get_by_text("停用")).to_be_visible()
    with live_app.app_context():
        states = dict(db.session.execute(select(Technology.code, Technology.status)
                                         .where(Technology.code.like(f"{prefix}%"))).all())
    assert states == {f"{prefix}1": "active", f"{prefix}2": "active", f"{prefix}3": "disabled",
                      f"{prefix}4": "disabled"}
    # The detail page shows the bulk revision in its timeline.
    rows.first.get_by_role("link").first.click()
    expect(page.get_by_test_id("revision")).to_have_count(2)
    expect(page.get_by_test_id("revision-timeline")).to_contain_text("年度目录清理")
    assert violations == []


def test_the_list_reads_as_cards_on_a_phone(open_context, make_account, catalogue_entries):
    prefix, _ = catalogue_entries
    account = make_account("ma", roles=("ma_staff",))
    page = open_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    _sign_in(page, account, f"/catalogue/technologies?q={prefix}")
    rows = page.get_by_test_id("technology-row")
    expect(rows).to_have_count(4)
    assert no_horizontal_scroll(page), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    expect(page.locator("table.technologies thead")).to_be_hidden()  # stacked cards
    box = rows.first.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    # The secondary filters sit behind the 筛选 toggle.
    expect(page.get_by_label("手术等级")).to_be_hidden()
    page.get_by_test_id("filters-toggle").click()
    page.get_by_label("手术等级").select_option("3")
    expect(rows).to_have_count(0)
    page.get_by_label("手术等级").select_option("2")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").first.click()
    expect(page.get_by_test_id("revision")).to_have_count(2)
    assert no_horizontal_scroll(page)


def test_every_catalogue_page_fits_desktop_tablet_and_phone(open_context, make_account, catalogue_entries):
    """No catalogue page scrolls sideways at 1440x900, 1024x768 or 375x667 (screenshots kept when PORTAL_SHOTS
    names a folder)."""
    prefix, ids = catalogue_entries
    folder = Path(os.environ["PORTAL_SHOTS"]) if os.environ.get("PORTAL_SHOTS") else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    account = make_account("ma", roles=("ma_staff",))
    pages = {"list": "/catalogue/technologies", "search": f"/catalogue/technologies?q={prefix}",
             "detail": f"/catalogue/technologies/{ids[0]}", "diff": f"/catalogue/technologies/{ids[0]}/diff?a=1&b=2",
             "department": "/catalogue/departments", "edit": f"/catalogue/technologies/{ids[1]}/edit",
             "home": "/"}
    for label, viewport in (("desktop", DESKTOP), ("tablet", TABLET), ("phone", PHONE)):
        page = open_context(viewport=viewport, is_mobile=viewport is PHONE, has_touch=True).new_page()
        _sign_in(page, account, "/")
        for name, path in pages.items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            if folder:
                page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
            assert no_horizontal_scroll(page), (name, label)
        # The import preview: one row changes two fields, one row is wrong.
        page.goto("/imports/technology")
        page.set_input_files("#file", files=[{"name": "字典.xlsx", "mimeType": XLSX, "buffer": xlsx_bytes([
            ["院内编码", "名称", "类别", "等级"], [f"{prefix}1", "腹腔镜下胆囊切除术（改）", "手术", "三级"],
            [f"{prefix}9", "新术式", "手术", "五级"]])}])
        page.get_by_role("button", name="上传并预览").click()
        page.wait_for_load_state("networkidle")
        if folder:
            page.screenshot(path=str(folder / f"import-{label}.png"), full_page=True)
        assert no_horizontal_scroll(page), ("import", label)
