"""A declared report in the browser: the ECharts chart draws as SVG, re-draws after an htmx swap, and the
page fits the desktop (1440x900) and the phone (375x667) without horizontal scrolling."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.auth.models import Department, User
from portal.casemgmt.ledger import services as ledger
from portal.extensions import db
from tests import cm_factories as cm
from tests.e2e.helpers import submit_login, unique

pytestmark = pytest.mark.e2e

MONTH = date(2024, 3, 1)  # a month no other browser test writes services in
PATH = "/reports/cm_services_by_type?month=2024-03"
SHOTS = os.environ.get("PORTAL_SCREENSHOTS", "")  # a folder: the tests leave their screenshots there


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


@pytest.fixture(scope="module")
def report_viewer(live_app, e2e_department_id, make_account):
    """A case-management supervisor and a month of services of several kinds."""
    boss = make_account("cmboss", roles=("cm_supervisor",), name=unique("组长")[:12])
    kinds = ("phone_followup", "phone_followup", "education", "revisit_reminder", "questionnaire",
             "nutrition_screening", "accompany_discharge", "medication_reminder", "phone_followup")
    with live_app.app_context():
        ward = cm.make_ward(unique("病区"), db.session.get(Department, e2e_department_id))
        manager = db.session.get(User, cm.make_case_manager(unique("cm"), ward, name="测试个管").id)
        for i, kind in enumerate(kinds):
            patient = cm.make_patient("上官婉儿", hospital_no=unique("ZY"))
            cm.enrol(patient, case_manager=manager, ward=ward)
            day = MONTH + timedelta(days=i)
            ledger.record_adhoc_service(patient, manager, service_date=day, task_type=kind,
                                        outcome="reached" if i % 3 else "not_reached", today=day)
        db.session.commit()
    return boss


def _open(page: Page, base_url: str, account) -> None:
    page.goto(PATH)
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(f"{base_url}{PATH}")


def _fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_report_chart_draws_as_svg_and_redraws_after_a_swap(page: Page, base_url, report_viewer):
    _open(page, base_url, report_viewer)
    expect(page.locator("[data-chart] svg")).to_be_visible()
    expect(page.locator("[data-chart] svg text", has_text="电话随访").first).to_be_attached()
    expect(page.locator("table.data.report tfoot")).to_contain_text("合计")
    assert _fits(page)
    shot(page, "report-1440x900.png")
    page.evaluate("window.__sameDocument = true")
    page.locator('select[name="compare"]').select_option("yoy")
    expect(page).to_have_url(re.compile(r"compare=yoy"))
    expect(page.locator("table.data.report thead")).to_contain_text("上年同期")
    expect(page.locator("[data-chart] svg")).to_be_visible()  # drawn again in the swapped body
    assert page.evaluate("window.__sameDocument === true")
    # A date range replaces the month once both dates are there; empty filters stay out of the URL.
    page.locator('input[name="date_from"]').fill("2024-03-02")
    expect(page.locator('input[name="month"]')).to_have_value("")
    page.locator('input[name="date_to"]').fill("2024-03-05")
    expect(page).to_have_url(re.compile(r"\?date_from=2024-03-02&date_to=2024-03-05&compare=yoy$"))
    expect(page.get_by_test_id("report-period")).to_contain_text("2024-03-02 至 2024-03-05")
    expect(page.locator("table.data.report tfoot")).to_contain_text("4")
    expect(page.locator("#toast")).to_be_empty()
    assert page.evaluate("document.querySelectorAll('script[src]').length") >= 3  # scripts of our own only
    assert not page.evaluate(
        "Array.from(document.querySelectorAll('script[src]')).some(s => new URL(s.src).host !== location.host)")


@pytest.mark.parametrize("viewport", [{"width": 375, "height": 667}, {"width": 1024, "height": 768}],
                         ids=["phone", "tablet"])
def test_report_fits_small_screens_as_cards(open_context, base_url, report_viewer, viewport):
    context = open_context(viewport=viewport, is_mobile=viewport["width"] < 768, has_touch=True)
    page = context.new_page()
    _open(page, base_url, report_viewer)
    expect(page.locator("[data-chart] svg")).to_be_visible()
    assert _fits(page)
    if viewport["width"] < 768:
        expect(page.locator("table.data.report thead")).to_be_hidden()  # rows are stacked cards
        expect(page.locator("table.data.report tbody td").first).to_have_css("display", "flex")
    shot(page, f"report-{viewport['width']}x{viewport['height']}.png")
    compare = page.locator('select[name="compare"]')
    if viewport["width"] < 768:  # the month in view, the other filters behind 筛选
        expect(page.locator('input[name="month"]')).to_be_visible()
        expect(compare).to_be_hidden()
        page.get_by_test_id("filters-toggle").click()
    compare.select_option("prev")
    expect(page.locator("table.data.report thead")).to_contain_text("上期", use_inner_text=False)
    assert _fits(page)
    if viewport["width"] < 768:
        page.reload()
        expect(page.get_by_test_id("filters-toggle")).to_have_text("筛选（已选 1 项）")
        expect(compare).to_be_hidden()


def test_monthly_service_report_draws_its_charts_on_a_phone(open_context, base_url, report_viewer):
    context = open_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    page = context.new_page()
    path = "/casemgmt/ledger/report?month=2024-03"
    page.goto(path)
    submit_login(page, report_viewer.login, report_viewer.password)
    expect(page).to_have_url(f"{base_url}{path}")
    expect(page.locator("[data-chart] svg")).to_have_count(3)
    assert _fits(page)
    shot(page, "monthly-375x667.png")


def test_a_kpi_drill_down_is_cards_on_a_phone(open_context, base_url, live_app, report_viewer):
    from portal.casemgmt.models import AdverseEvent

    with live_app.app_context():
        patient = cm.make_patient("上官婉儿", hospital_no=unique("ZY"))
        db.session.add(AdverseEvent(kind="complaint", patient_id=patient.id, occurred_on=MONTH + timedelta(days=3),
                                    severity="mild", description="候诊时间过长，" * 12, handling="已电话致歉并说明"))
        db.session.commit()
    context = open_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto("/casemgmt/kpis/events?month=2024-03")  # the dashboard's old link leads to the registry's rows
    submit_login(page, report_viewer.login, report_viewer.password)
    expect(page).to_have_url(re.compile(r"/reports/cm_kpi_events/rows\?month=2024-03&column=events$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("不良事件与投诉明细")
    row = page.locator("#list tbody tr", has_text="已电话致歉并说明")
    expect(row).to_have_count(1)
    expect(page.locator("#list table.data thead")).to_be_hidden()  # rows are stacked cards
    expect(row.locator("td").first).to_have_css("display", "block")  # label and value, one per line
    expect(page.get_by_role("link", name="返回指标看板")).to_be_visible()
    assert _fits(page)
    shot(page, "kpi-drill-375x667.png")
