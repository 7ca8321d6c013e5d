"""A case manager's day on a ward tablet: the list first, one card completed in place, 44px touch targets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from portal.auth.models import Department, User
from portal.casemgmt.models import CareTask, Plan, PlanItem
from portal.casemgmt.tasks import services as tasks
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db
from tests import cm_factories as cm
from tests.e2e.helpers import no_horizontal_scroll, submit_login, unique

pytestmark = pytest.mark.e2e

TABLET = {"width": 1024, "height": 768}
TABLET_PORTRAIT = {"width": 768, "height": 1024}
DESKTOP = {"width": 1280, "height": 800}
TOUCH = 44


@dataclass(frozen=True)
class Day:
    login: str
    password: str
    name: str
    wheelchair_task: int
    phone_task: int
    overdue_task: int


@pytest.fixture
def case_managers_day(live_app, make_account, e2e_department_id) -> Day:
    """A case manager with three tasks today: two in the morning (one with a wheelchair), one carried over."""
    account = make_account("cm", roles=("case_manager",), name=unique("个管")[:12])
    today = local_today()
    with live_app.app_context():
        department = db.session.get(Department, e2e_department_id)
        ward = cm.make_ward(unique("病区"), department)
        manager = db.session.get(User, account.id)
        people = [cm.make_patient(name) for name in ("张三丰", "钱一", "吴三")]
        for p, bed in zip(people, ("12床", "3床", "5床"), strict=True):
            cm.enrol(p, case_manager=manager, ward=ward, bed=bed)
        now = utcnow()
        items = {
            today: [dict(patient_id=people[0].id, bed="12床", time_slot="morning", special_needs=["wheelchair"],
                         special_note="需轮椅接送", task_type="accompany_admission"),
                    dict(patient_id=people[1].id, bed="3床", time_slot="morning", task_type="phone_followup")],
            today - timedelta(days=1): [dict(patient_id=people[2].id, bed="5床", task_type="revisit_reminder")],
        }
        for day, rows in items.items():
            plan = db.session.scalar(select(Plan).where(Plan.plan_date == day))
            if plan is None:
                plan = Plan(plan_date=day, first_submitted_at=now, last_submitted_at=now)
                db.session.add(plan)
                db.session.flush()
            for row in rows:
                db.session.add(PlanItem(plan_id=plan.id, external_id=unique("E2E"), ward_id=ward.id,
                                        submitted_at=now, **row))
            db.session.commit()
        tasks.build_daily_tasks(today - timedelta(days=1))
        tasks.build_daily_tasks(today)
        db.session.commit()
        ids = [db.session.scalar(select(CareTask.id).where(CareTask.patient_id == p.id)) for p in people]
    return Day(account.login, account.password, account.name, *ids)


def open_list_signed_in(page: Page, day: Day, base_url: str) -> None:
    """The tablet's bookmark is the task list: signing in lands on it."""
    page.goto("/casemgmt/tasks")
    expect(page).to_have_url(f"{base_url}/login?next=/casemgmt/tasks")
    submit_login(page, day.login, day.password)
    expect(page).to_have_url(f"{base_url}/casemgmt/tasks")
    expect(page.get_by_role("heading", level=1)).to_contain_text("今日任务")


def card(page: Page, task_id: int) -> Locator:
    return page.locator(f"#task-{task_id}")


def assert_touch_target(locator: Locator) -> None:
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None and box["height"] >= TOUCH and box["width"] >= TOUCH, (locator, box)


def side_by_side(page: Page, first: int, second: int) -> bool:
    """Whether two cards sit in one row (else one is below the other)."""
    a, b = card(page, first).bounding_box(), card(page, second).bounding_box()
    return abs(a["y"] - b["y"]) < 2 and (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"])



@pytest.mark.parametrize("viewport", [TABLET, TABLET_PORTRAIT], ids=["1024x768", "768x1024"])
def test_completing_a_task_on_the_tablet_updates_its_card_in_place(open_context, base_url, case_managers_day,
                                                                   viewport):
    day = case_managers_day
    page = open_context(viewport=viewport, has_touch=True).new_page()
    open_list_signed_in(page, day, base_url)
    assert no_horizontal_scroll(page)
    # Two columns of cards on the landscape tablet, one in portrait.
    assert side_by_side(page, day.wheelchair_task, day.phone_task) == (viewport["width"] >= 1000)

    # The carried-over task comes first, marked overdue; counts are on top.
    first_group = page.locator(".task-group").first
    expect(first_group.get_by_role("heading", level=2)).to_contain_text("逾期未完成")
    expect(first_group.locator(".task-card")).to_have_count(1)
    expect(card(page, day.overdue_task)).to_contain_text("逾期 1 天")
    expect(page.get_by_test_id("count-open")).to_have_text("3")
    expect(page.get_by_test_id("count-done")).to_have_text("0")

    # The special need stands out on its card, names are masked.
    wheelchair = card(page, day.wheelchair_task)
    special = wheelchair.get_by_test_id("special-need")
    expect(special).to_be_visible()
    expect(special).to_contain_text("轮椅")
    expect(special).to_contain_text("需轮椅接送")
    expect(wheelchair.locator(".task-patient")).to_have_text("张*丰")

    # Touch targets: the filters, the day switch, every card's 完成.
    for locator in (page.locator("#task-ward"), page.locator("#task-type"), page.locator("#task-status"),
                    page.locator("#task-q"), page.locator(".task-toggle label").first,
                    page.get_by_role("link", name="后一天")):
        assert_touch_target(locator)
    done_buttons = page.get_by_test_id("task-complete")
    expect(done_buttons).to_have_count(3)
    for i in range(3):
        assert_touch_target(done_buttons.nth(i))

    # A marker that survives only if the page is not reloaded.
    page.evaluate("window.__sameDocument = true")
    wheelchair.get_by_test_id("task-complete").click()
    outcomes = wheelchair.locator(".task-act .task-outcomes button")
    expect(outcomes).to_have_count(4)
    for i in range(4):
        assert_touch_target(outcomes.nth(i))
    for label in wheelchair.locator(".task-score label").all():
        assert_touch_target(label)
    assert_touch_target(wheelchair.locator("textarea[name=note]"))
    wheelchair.locator(".task-score label", has_text="5 分").click()
    wheelchair.locator(".task-act").get_by_role("button", name="已完成（联系上）").click()

    updated = card(page, day.wheelchair_task)
    expect(updated.get_by_test_id("task-state")).to_have_text("已完成")
    expect(updated).to_contain_text("已记录：已完成（联系上），满意度 5 分。")
    expect(updated.get_by_test_id("task-complete")).to_have_count(0)
    expect(page.get_by_test_id("count-done")).to_have_text("1")
    expect(page.get_by_test_id("count-open")).to_have_text("2")
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    # The other cards are untouched and still open.
    expect(card(page, day.phone_task).get_by_test_id("task-state")).to_have_text("待完成")
    assert no_horizontal_scroll(page)


def test_a_task_finished_meanwhile_on_another_tablet_shows_who_did_it(open_context, base_url, case_managers_day,
                                                                       live_app):
    day = case_managers_day
    page = open_context(viewport=TABLET, has_touch=True).new_page()
    open_list_signed_in(page, day, base_url)
    phone = card(page, day.phone_task)
    phone.get_by_test_id("task-complete").click()
    # Meanwhile the same task is finished from the other tablet.
    with live_app.app_context():
        task = db.session.get(CareTask, day.phone_task)
        tasks.complete_task(task, db.session.get(User, task.case_manager_id), outcome="reached")
        db.session.commit()
    page.evaluate("window.__sameDocument = true")
    phone.locator(".task-act").get_by_role("button", name="患者拒绝").click()
    updated = card(page, day.phone_task)
    expect(updated).to_contain_text(f"该任务已由{day.name}处理（已完成），无需重复提交。")
    expect(updated.get_by_test_id("task-state")).to_have_text("已完成")
    expect(updated).to_contain_text("已完成（联系上）")
    assert page.evaluate("window.__sameDocument === true")
    expect(page.locator("#toast")).to_be_empty()


def test_the_list_at_1280_keeps_the_sidebar_and_lays_cards_side_by_side(open_context, base_url, case_managers_day):
    day = case_managers_day
    page = open_context(viewport=DESKTOP).new_page()
    open_list_signed_in(page, day, base_url)
    sidebar = page.locator("aside.sidebar")
    expect(sidebar).to_be_visible()
    expect(sidebar.get_by_role("link", name="今日任务")).to_have_attribute("aria-current", "page")
    assert side_by_side(page, day.wheelchair_task, day.phone_task)
    main = page.locator("main#main").bounding_box()
    for task_id in (day.wheelchair_task, day.phone_task, day.overdue_task):
        box = card(page, task_id).bounding_box()
        assert box["x"] >= main["x"] and box["x"] + box["width"] <= main["x"] + main["width"] + 1, box
    assert_touch_target(page.get_by_test_id("task-complete").first)
    assert no_horizontal_scroll(page)
    # Grouping by ward is one tap, without leaving the page.
    page.evaluate("window.__sameDocument = true")
    page.locator(".task-toggle label", has_text="按病区").click()
    expect(page).to_have_url(re.compile(r"/casemgmt/tasks\?.*group=ward"))
    expect(page.locator(".task-group h2").nth(1)).to_contain_text("病区")
    assert page.evaluate("window.__sameDocument === true")


CONTRAST = """el => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  const style = getComputedStyle(el);
  const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_one_tap_outcomes_and_a_legible_details_bar(open_context, base_url, case_managers_day):
    day = case_managers_day
    page = open_context(viewport=TABLET, has_touch=True).new_page()
    open_list_signed_in(page, day, base_url)
    page.evaluate("window.__sameDocument = true")
    phone = card(page, day.phone_task)
    quick = phone.locator(".task-quick button")
    expect(quick).to_have_text(["已完成", "未联系上", "患者拒绝"])
    for i in range(3):
        assert_touch_target(quick.nth(i))
    # One tap: not reached. The card stays open, amber, with the attempt count; the page is not reloaded.
    phone.get_by_test_id("quick-not_reached").click()
    updated = card(page, day.phone_task)
    expect(updated.get_by_test_id("task-state")).to_have_text("未联系上（第 1 次）")
    expect(updated.locator(".badge-warn")).to_have_count(1)
    expect(updated.get_by_test_id("quick-not_reached")).to_be_visible()  # try again later
    expect(page.get_by_test_id("count-open")).to_have_text("3")
    # One tap: declined, a grey closed state (not the green 已完成).
    card(page, day.overdue_task).get_by_test_id("quick-declined").click()
    declined = card(page, day.overdue_task)
    expect(declined.get_by_test_id("task-state")).to_have_text("患者拒绝")
    expect(declined.locator(".badge-off")).to_have_count(1)
    expect(page.get_by_test_id("count-done")).to_have_text("1")
    assert page.evaluate("window.__sameDocument === true")
    # The details bar stays legible once the form is open (it turned grey on grey before).
    summary = card(page, day.wheelchair_task).get_by_test_id("task-complete")
    summary.click()
    page.mouse.click(5, 5)  # focus elsewhere: the greyed style applied to an open, unfocused summary
    expect(card(page, day.wheelchair_task).locator("details.task-act")).to_have_attribute("open", "")
    assert summary.evaluate(CONTRAST) >= 4.5
    # Still an action: coloured text (not a grey), a visible border.
    colour = summary.evaluate("el => getComputedStyle(el).color.match(/[\\d.]+/g).slice(0, 3).map(Number)")
    assert max(colour) - min(colour) > 60, colour
    assert summary.evaluate("el => parseFloat(getComputedStyle(el).borderTopWidth)") >= 1
    assert no_horizontal_scroll(page)


def test_the_detail_form_loads_when_opened_and_answers_in_chinese(open_context, base_url, case_managers_day):
    """The list carries no detail forms: opening 填写详情 fetches it in place; a bad date is refused in Chinese
    with the form still open, and the same form then saves."""
    day = case_managers_day
    page = open_context(viewport=TABLET, has_touch=True).new_page()
    open_list_signed_in(page, day, base_url)
    expect(page.locator(".task-card textarea")).to_have_count(0)
    page.evaluate("window.__sameDocument = true")
    phone = card(page, day.phone_task)
    phone.get_by_test_id("task-complete").click()
    form = phone.locator("form.task-detail")
    expect(form.locator("textarea[name=note]")).to_be_visible()
    assert_touch_target(form.locator("textarea[name=note]"))
    form.locator("input[name=reschedule_to]").fill("")
    form.get_by_role("button", name="改期").click()
    refused = card(page, day.phone_task)
    expect(refused.locator(".alert-error")).to_contain_text("请选择改期到的日期")
    expect(refused.locator("details.task-act")).to_have_attribute("open", "")
    expect(refused.get_by_test_id("task-state")).to_have_text("待完成")
    refused.locator("textarea[name=note]").fill("家属代为回复")
    refused.locator("form.task-detail").get_by_role("button", name="患者拒绝").click()
    declined = card(page, day.phone_task)
    expect(declined.get_by_test_id("task-state")).to_have_text("患者拒绝")
    expect(declined).to_contain_text("家属代为回复")
    assert page.evaluate("window.__sameDocument === true")
    assert no_horizontal_scroll(page)


def test_the_team_list_fetches_a_cards_reassign_form_when_opened(open_context, base_url, case_managers_day,
                                                                 make_account):
    """A supervisor's team list carries no reassign lists (hundreds of cards × every case manager): opening 改派
    fetches the card's form in place, and it reassigns."""
    day = case_managers_day
    boss = make_account("boss", roles=("cm_supervisor",))
    other = make_account("cm", roles=("case_manager",), name=unique("接手")[:12])
    page = open_context(viewport=TABLET, has_touch=True).new_page()
    page.goto("/casemgmt/tasks")
    submit_login(page, boss.login, boss.password)
    wheelchair = card(page, day.wheelchair_task)
    expect(wheelchair).to_be_visible()
    expect(page.locator(".task-card select[name=case_manager_id]")).to_have_count(0)
    page.evaluate("window.__sameDocument = true")
    wheelchair.locator("details.task-reassign summary").click()
    chooser = wheelchair.locator("select[name=case_manager_id]")
    expect(chooser).to_be_visible()
    chooser.select_option(label=other.name)
    wheelchair.locator("details.task-reassign form").get_by_role("button", name="改派").click()
    expect(card(page, day.wheelchair_task)).to_contain_text(other.name)
    assert page.evaluate("window.__sameDocument === true")
    assert no_horizontal_scroll(page)
