"""The case-management desk at 1440x900: patients, pathways, the next-day plan, KPIs and the ledger.

Plus the layout checks the ward tablet (1024x768) and the WeCom phone webview (375x667) rely on.
Every test makes its own accounts and data (unique names), committed to the live server's database.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.auth.models import Department, User
from portal.casemgmt.ledger import services as ledger
from portal.casemgmt.models import CareTask, Plan, PlanItem, SatisfactionSurvey
from portal.casemgmt.plans import services as plans
from portal.casemgmt.tasks import services as tasks
from portal.core import months
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db
from tests import cm_factories as cm
from tests.e2e.helpers import Account, no_horizontal_scroll, submit_login, unique

pytestmark = pytest.mark.e2e

TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 375, "height": 667}
WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.0 MicroMessenger/7.0.1 Language/zh")
TOUCH = 44


def sign_in(page: Page, account: Account, path: str, base_url: str) -> None:
    """Open a bookmarked page signed out: the login form sends the user back to it."""
    page.goto(path)
    expect(page).to_have_url(re.compile(re.escape(f"{base_url}/login?next=")))
    submit_login(page, account.login, account.password)
    expect(page).to_have_url(f"{base_url}{path}")


def mark_document(page: Page) -> None:
    """A marker on `window` that survives only as long as the page is not reloaded."""
    page.evaluate("window.__sameDocument = true")


def same_document(page: Page) -> bool:
    return page.evaluate("window.__sameDocument === true")



def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def icd10_prefix() -> str:
    """A prefix no enrolment of another test matches (their patients must not pick up our pathways)."""
    return "Q99." + uuid.uuid4().hex[:4].upper()


# --- data ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeenPatient:
    id: int
    masked_name: str
    id_number: str
    id_masked: str
    phone: str
    phone_masked: str


@pytest.fixture
def supervisor(make_account) -> Account:
    return make_account("cmsup", roles=("cm_supervisor",), name=unique("组长")[:12])


@pytest.fixture
def enrolled_patient(live_app, e2e_department_id) -> SeenPatient:
    """A patient under management on a ward, with an ID number and a phone number on record."""
    phone = "139" + str(uuid.uuid4().int)[:8]
    with live_app.app_context():
        ward = cm.make_ward(unique("病区"), db.session.get(Department, e2e_department_id))
        number = cm.resident_id()
        patient = cm.make_patient("欧阳娜娜", id_number=number, phone=phone, hospital_no=unique("ZY"))
        cm.enrol(patient, ward=ward, bed="18", disease_name="肺恶性肿瘤（右上叶腺癌，术后辅助化疗）")
        return SeenPatient(patient.id, patient.masked_name, number, patient.id_number_masked, phone,
                           patient.phone_masked)


# --- 1. the patient page: masked, revealed in place ------------------------------------------------------------

def test_supervisor_reveals_the_id_number_in_place(page: Page, base_url, supervisor, enrolled_patient):
    patient = enrolled_patient
    path = f"/casemgmt/patients/{patient.id}"
    sign_in(page, supervisor, path, base_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text(patient.masked_name)

    id_slot, phone_slot = page.locator("#reveal-id_number"), page.locator("#reveal-phone")
    expect(id_slot.locator(".masked")).to_have_text(patient.id_masked)
    expect(phone_slot.locator(".masked")).to_have_text(patient.phone_masked)
    content = page.content()
    assert patient.id_number not in content, "the full ID number was sent before it was asked for"
    assert patient.phone not in content, "the full phone number was sent before it was asked for"

    mark_document(page)
    id_slot.get_by_role("button", name="查看完整").click()
    revealed = page.get_by_test_id("revealed-id_number")
    expect(revealed).to_have_text(patient.id_number)
    expect(page.locator("#reveal-id_number")).to_contain_text("本次查看已记录")
    assert same_document(page), "the page was reloaded"
    expect(page).to_have_url(f"{base_url}{path}")
    # Only the number asked for: the phone stays masked, with its own button.
    expect(phone_slot.locator(".masked")).to_have_text(patient.phone_masked)
    expect(phone_slot.get_by_role("button", name="查看完整")).to_be_visible()
    assert patient.phone not in page.content()


# --- 2. the pathway step editor --------------------------------------------------------------------------------

def test_pathway_steps_are_checked_in_place_and_published_as_versions(page: Page, base_url, supervisor):
    name = unique("肺癌术后路径")
    sign_in(page, supervisor, "/casemgmt/pathways/new", base_url)
    page.get_by_label("路径名称").fill(name)
    page.get_by_label("ICD-10 编码前缀").fill(icd10_prefix())
    with page.expect_navigation():
        page.get_by_role("button", name="创建并填写步骤").click()
    expect(page).to_have_url(re.compile(r"/casemgmt/pathways/\d+/steps$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"编辑步骤：{name}")
    steps_url = page.url

    rows = page.locator("fieldset.step-row")
    expect(rows).to_have_count(1)
    rows.nth(0).locator("input[name$='-title']").fill("出院后电话随访")
    rows.nth(0).locator("input[name$='-offset_days']").fill("1")
    rows.nth(0).locator("input[name$='-window_days']").fill("2")

    mark_document(page)
    page.get_by_role("button", name="＋ 添加步骤").click()
    expect(rows).to_have_count(2)
    second = rows.nth(1)
    expect(second.locator("legend")).to_have_text("第 2 步")
    # What was typed in the first row survives the swap.
    expect(rows.nth(0).locator("input[name$='-title']")).to_have_value("出院后电话随访")

    # The second step gets its timing but no title: publishing refuses it, in place.
    second.locator("select[name$='-task_type']").select_option(label="复诊提醒")
    second.locator("input[name$='-offset_days']").fill("7")
    second.locator("input[name$='-window_days']").fill("3")
    page.get_by_role("button", name="发布新版本").click()
    error = page.get_by_test_id("step-error-2")
    expect(error).to_have_text(re.compile(r"第 2 步：请填写步骤名称"))
    expect(rows.nth(1)).to_have_class(re.compile(r"\bstep-error\b"))
    expect(page.locator("#pathway-steps .alert-error")).to_contain_text("没有发布")
    expect(rows.nth(1).locator("input[name$='-offset_days']")).to_have_value("7")
    assert same_document(page), "the page was reloaded"
    expect(page).to_have_url(steps_url)

    rows.nth(1).locator("input[name$='-title']").fill("复诊提醒")
    with page.expect_navigation():
        page.get_by_role("button", name="发布新版本").click()
    expect(page).to_have_url(re.compile(r"/casemgmt/pathways/\d+$"))
    steps = page.locator("#steps")
    expect(steps.get_by_role("heading", level=2)).to_contain_text("第 1 版的步骤")
    expect(steps.get_by_role("heading", level=2)).to_contain_text("当前版本")
    expect(steps.locator("tbody tr")).to_have_count(2)
    expect(steps.locator("tbody tr").nth(0)).to_contain_text("出院后电话随访")
    expect(steps.locator("tbody tr").nth(1)).to_contain_text("复诊提醒")
    expect(steps.locator("tbody tr").nth(1)).to_contain_text("出院后 7 天，3 天内完成")
    pathway_url = page.url

    # A second version: the editor starts from the current steps.
    page.get_by_role("link", name="编辑步骤（发布新版本）").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("input[name$='-title']")).to_have_value("复诊提醒")
    rows.nth(1).locator("input[name$='-title']").fill("术后一周复诊提醒")
    page.get_by_label("版本说明").fill("复诊提醒改名")
    with page.expect_navigation():
        page.get_by_role("button", name="发布新版本").click()
    expect(page).to_have_url(pathway_url)
    expect(steps.get_by_role("heading", level=2)).to_contain_text("第 2 版的步骤")
    expect(steps).to_contain_text("术后一周复诊提醒")
    history = page.locator("table.versions tbody tr")
    expect(history).to_have_count(2)

    # Version 1 is still there, read-only, with its own steps.
    page.locator("table.versions").get_by_role("link", name="第 1 版").click()
    expect(page).to_have_url(re.compile(r"/casemgmt/pathways/\d+\?version=1$"))
    expect(steps.get_by_role("heading", level=2)).to_contain_text("第 1 版的步骤")
    expect(steps.get_by_role("heading", level=2)).to_contain_text("历史版本（只读）")
    expect(steps.locator("tbody tr").nth(1)).to_contain_text("复诊提醒")
    expect(steps).not_to_contain_text("术后一周复诊提醒")
    expect(steps.locator("input, select, textarea, button")).to_have_count(0)


# --- 3. the next-day plan --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanDesk:
    issuer: Account
    hospital_no: str
    masked_name: str


@pytest.fixture
def plan_desk(live_app, make_account, e2e_department_id) -> PlanDesk:
    """A plan issuer, a known patient, and tomorrow's plan already under way (one item from HIS)."""
    issuer = make_account("issuer", roles=("plan_issuer",), name=unique("计划")[:12])
    tomorrow = local_today() + timedelta(days=1)
    with live_app.app_context():
        ward = cm.make_ward(unique("病区"), db.session.get(Department, e2e_department_id))
        known = cm.make_patient("司马相如", hospital_no=unique("ZY"))
        cm.enrol(known, ward=ward)
        other = cm.make_patient("钱多多", hospital_no=unique("ZY"))
        cm.enrol(other, ward=ward)
        plans.submit_plan(tomorrow, [{"patient": other.hospital_no, "task_type": "phone_followup",
                                      "ward_id": ward.id}], source="api")
        db.session.commit()
        return PlanDesk(issuer, known.hospital_no, known.masked_name)


def test_plan_issuer_adds_items_for_known_and_unknown_patients(page: Page, base_url, plan_desk):
    desk = plan_desk
    tomorrow = local_today() + timedelta(days=1)
    plan_path = f"/casemgmt/plans/{tomorrow.isoformat()}"
    sign_in(page, desk.issuer, "/casemgmt/plans", base_url)
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile(r"^填报明天")).click()
    expect(page).to_have_url(f"{base_url}{plan_path}")
    expect(page.get_by_test_id("plan-cutoff")).to_be_visible()

    items = page.locator("#plan-items")
    form = page.locator("#plan-item-form")
    mark_document(page)
    form.get_by_label("患者住院号或证件号码").fill(desk.hospital_no)
    form.get_by_label("服务项目").select_option(label="复诊提醒")
    form.get_by_label("时段").select_option(label="上午")
    form.get_by_label("服务内容").fill("提醒周五上午门诊复诊")
    form.get_by_role("button", name="添加到计划").click()

    expect(form.get_by_role("status")).to_contain_text("已添加计划项目")
    row = items.locator("tbody tr", has_text=desk.hospital_no)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(desk.masked_name)
    expect(row).to_contain_text("复诊提醒")
    expect(row).to_contain_text("提醒周五上午门诊复诊")
    expect(row).to_contain_text("有效")
    # The form is ready for the next item.
    expect(form.get_by_label("患者住院号或证件号码")).to_have_value("")
    assert same_document(page), "the page was reloaded"
    expect(page).to_have_url(f"{base_url}{plan_path}")

    stranger = unique("ZY")
    form.get_by_label("患者住院号或证件号码").fill(stranger)
    form.get_by_label("姓名").fill("林黛玉")
    form.get_by_label("服务项目").select_option(label="电话随访")
    form.get_by_role("button", name="添加到计划").click()
    expect(form.get_by_role("status")).to_contain_text("待匹配患者")
    unknown = page.locator("#plan-unknown")
    unknown_row = unknown.locator("tbody tr", has_text=stranger)
    expect(unknown_row).to_have_count(1)
    expect(unknown_row).to_contain_text("林*玉")
    expect(unknown_row).to_contain_text("电话随访")
    expect(unknown_row.get_by_role("button", name="匹配")).to_be_visible()
    expect(items.locator("tbody tr", has_text=stranger)).to_contain_text("患者未匹配")
    assert same_document(page), "the page was reloaded"
    expect(page).to_have_url(f"{base_url}{plan_path}")

    # The list's own filter still narrows the items (and only it puts its state in the address).
    page.locator("#plan-filter").get_by_label("状态").select_option(label="患者未匹配")
    expect(page).to_have_url(re.compile(re.escape(plan_path) + r"\?.*status=unknown"))
    expect(items.locator("tbody tr", has_text=stranger)).to_have_count(1)
    expect(items.locator("tbody tr", has_text=desk.hospital_no)).to_have_count(0)


# --- 4. the KPI dashboard --------------------------------------------------------------------------------------

KPI_CARDS = {"execution": "管理路径执行率", "satisfaction": "服务对象满意度", "events": "不良事件（含服务投诉）发生率",
             "served": "服务患者数", "workload": "个案管理师工作量", "late_plans": "次日计划逾期下达"}


def test_kpi_dashboard_cards_drill_down_and_previous_month(page: Page, base_url, supervisor, live_app,
                                                           enrolled_patient):
    comment = unique("希望随访电话提前告知")
    this_month = months.current_month()
    with live_app.app_context():
        db.session.add(SatisfactionSurvey(patient_id=enrolled_patient.id, survey_month=this_month, timeliness=5,
                                          effectiveness=4, attitude=5, comment=comment))
        db.session.commit()

    sign_in(page, supervisor, "/casemgmt/kpis", base_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text(months.month_label(this_month))
    cards = page.locator("article.kpi-card")
    expect(cards).to_have_count(6)
    for code, label in KPI_CARDS.items():
        card = page.locator(f"#kpi-{code}")
        expect(card.get_by_role("heading", level=2)).to_have_text(label)
        expect(card.locator(".kpi-def")).to_contain_text("口径：")
        assert len(card.locator(".kpi-def").inner_text()) > 20, code
        expect(card.get_by_role("link", name="查看明细")).to_be_visible()

    with page.expect_navigation():
        page.locator("#kpi-satisfaction").get_by_role("link", name="查看明细").click()
    expect(page).to_have_url(re.compile(r"/reports/cm_kpi_satisfaction/rows\?month=" + months.month_text(this_month)))
    expect(page.get_by_role("heading", level=1)).to_contain_text("满意度调查明细")
    expect(page.locator(".drill-definition")).to_contain_text("口径：")
    row = page.locator("#list tbody tr", has_text=comment)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(enrolled_patient.masked_name)
    expect(row).to_contain_text("满意")

    with page.expect_navigation():
        page.get_by_role("link", name="返回指标看板").click()
    previous = months.previous_month(this_month)
    with page.expect_navigation():
        page.get_by_role("link", name="‹ 上月").click()
    expect(page).to_have_url(f"{base_url}/casemgmt/kpis?month={months.month_text(previous)}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(months.month_label(previous))
    expect(page.locator("#kpi-month")).to_have_value(months.month_text(previous))
    expect(page.get_by_role("link", name="下月 ›")).to_be_visible()
    expect(page.locator("article.kpi-card")).to_have_count(6)
    # The picker itself: a month typed in and sent.
    earlier = months.previous_month(previous)
    page.locator("#kpi-month").fill(months.month_text(earlier))
    with page.expect_navigation():
        page.locator(".kpi-month-pick").get_by_role("button", name="查看").click()
    expect(page).to_have_url(f"{base_url}/casemgmt/kpis?month={months.month_text(earlier)}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(months.month_label(earlier))


# --- 5. the ledger list ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerDesk:
    manager: Account
    call_no: str  # the patient phoned (电话随访)
    visit_no: str  # the patient reminded of a visit (复诊提醒)


@pytest.fixture
def ledger_desk(live_app, make_account, e2e_department_id) -> LedgerDesk:
    """A case manager with two services in the ledger today: one call, one visit reminder."""
    manager = make_account("cmled", roles=("case_manager",), name=unique("个管")[:12])
    tag = unique("ZY")
    with live_app.app_context():
        user = db.session.get(User, manager.id)
        call = cm.make_patient("诸葛明", hospital_no=f"{tag}-1")
        visit = cm.make_patient("令狐冲", hospital_no=f"{tag}-2")
        for patient, task_type in ((call, "phone_followup"), (visit, "revisit_reminder")):
            cm.enrol(patient, case_manager=user)
            ledger.record_adhoc_service(patient, user, service_date=local_today(), task_type=task_type,
                                        outcome="reached", note="e2e")
        db.session.commit()
        return LedgerDesk(manager, call.hospital_no, visit.hospital_no)


def test_ledger_filters_update_rows_and_address_and_export_matches(page: Page, base_url, ledger_desk):
    desk = ledger_desk
    sign_in(page, desk.manager, "/casemgmt/ledger", base_url)
    rows = page.locator("#list table.ledger tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#list-count")).to_have_text("（2）")

    mark_document(page)
    search = page.get_by_role("searchbox", name="患者")
    search.fill(desk.call_no)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(desk.call_no)
    expect(rows.first).to_contain_text("电话随访")
    expect(page).to_have_url(re.compile(r"[?&]q=" + re.escape(quote(desk.call_no, safe="")) + r"(&|$)"))
    expect(page.locator("#list-count")).to_have_text("（1）")

    search.fill("")
    expect(rows).to_have_count(2)
    page.get_by_label("服务类型").select_option(label="复诊提醒")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(desk.visit_no)
    expect(page).to_have_url(re.compile(r"[?&]task_type=revisit_reminder(&|$)"))
    assert same_document(page), "the filters reloaded the page"

    # The address is the state: opened afresh, it shows the same rows.
    page.goto(page.url)
    expect(page.get_by_label("服务类型")).to_have_value("revisit_reminder")
    expect(rows).to_have_count(1)

    export = page.get_by_role("link", name="导出 Excel")
    assert query_of(export.get_attribute("href")).get("task_type") == ["revisit_reminder"]
    with page.expect_download() as info:
        export.click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx"), download.suggested_filename
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True).active
    cells = {str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None}
    assert desk.visit_no in cells
    assert desk.call_no not in cells, "the export ignored the filter"


# --- 6. tablet and phone layouts -------------------------------------------------------------------------------

def test_patient_page_and_ledger_fit_the_tablet(open_context, base_url, supervisor, enrolled_patient):
    page = open_context(viewport=TABLET, has_touch=True).new_page()
    path = f"/casemgmt/patients/{enrolled_patient.id}"
    sign_in(page, supervisor, path, base_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text(enrolled_patient.masked_name)
    assert no_horizontal_scroll(page), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    page.goto("/casemgmt/ledger")
    expect(page.get_by_role("heading", level=1)).to_contain_text("服务台账")
    expect(page.locator("#list")).to_be_visible()
    assert no_horizontal_scroll(page), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")


@pytest.fixture
def phone_day(live_app, make_account, e2e_department_id) -> Account:
    """A case manager with one task today, from today's plan."""
    account = make_account("cmph", roles=("case_manager",), name=unique("个管")[:12])
    today = local_today()
    with live_app.app_context():
        ward = cm.make_ward(unique("病区"), db.session.get(Department, e2e_department_id))
        manager = db.session.get(User, account.id)
        patient = cm.make_patient("慕容复")
        cm.enrol(patient, case_manager=manager, ward=ward, bed="7床")
        plan = db.session.scalar(select(Plan).where(Plan.plan_date == today))
        now = utcnow()
        if plan is None:
            plan = Plan(plan_date=today, first_submitted_at=now, last_submitted_at=now)
            db.session.add(plan)
            db.session.flush()
        db.session.add(PlanItem(plan_id=plan.id, external_id=unique("E2E"), patient_id=patient.id, ward_id=ward.id,
                                bed="7床", time_slot="morning", task_type="accompany_admission",
                                special_needs=["wheelchair"], special_note="需轮椅接送至 3 号楼", submitted_at=now))
        db.session.commit()
        tasks.build_daily_tasks(today)
        db.session.commit()
        assert db.session.scalar(select(CareTask.id).where(CareTask.patient_id == patient.id)) is not None
    return account


def test_task_list_is_usable_in_the_wecom_webview(open_context, base_url, phone_day):
    page = open_context(viewport=PHONE, user_agent=WECOM_UA, is_mobile=True, has_touch=True).new_page()
    sign_in(page, phone_day, "/casemgmt/tasks", base_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("今日任务")
    first = page.locator(".task-card").first
    expect(first).to_contain_text("慕*复")
    assert no_horizontal_scroll(page), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    done = first.get_by_test_id("task-complete")
    done.scroll_into_view_if_needed()
    expect(done).to_be_visible()
    box = done.bounding_box()
    assert box is not None and box["height"] >= TOUCH, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


@pytest.mark.parametrize("viewport", [PHONE, TABLET], ids=["375x667", "1024x768"])
def test_case_management_pages_never_scroll_sideways(open_context, base_url, make_account, phone_day, viewport):
    """The task list, the monthly assessment and the KPIs fit the phone and the tablet; tables become cards."""
    issuer = make_account("cmfit", roles=("plan_issuer",), name=unique("计划")[:12])
    month = local_today().replace(day=1)
    checks = [(phone_day, "/casemgmt/tasks"), (issuer, f"/casemgmt/assessments/{month:%Y-%m}"),
              (issuer, "/casemgmt/kpis")]
    for account, path in checks:
        context = open_context(viewport=viewport, is_mobile=viewport is PHONE, has_touch=True)
        page = context.new_page()
        sign_in(page, account, path, base_url)
        widths = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
        assert widths[0] <= widths[1], (path, widths)
        if viewport is PHONE and path == "/casemgmt/tasks":
            # A normal-height search box; the other filters wait behind 筛选 until asked for.
            assert page.locator("#task-q").bounding_box()["height"] < 60
            expect(page.locator("#task-type")).to_be_hidden()
            page.get_by_test_id("filters-toggle").click()
            expect(page.locator("#task-type")).to_be_visible()
            assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
        if viewport is PHONE and "assessments" in path:
            cell = page.locator("td[data-label='说明']").first  # a card line, not a column one character wide
            assert cell.bounding_box()["width"] > 200
