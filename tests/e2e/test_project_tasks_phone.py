"""A department secretary uploads and submits a project's materials on a phone in WeCom, from the card that
told her; medical affairs passes them on the desktop, and the matrix says so."""

# ruff: noqa: F811  (the fixtures imported from tests.e2e.wecom_live are parameters of the tests)
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.core.timeutil import local_today
from portal.extensions import db
from portal.projects import samples
from portal.projects.models import ProjectItem, ProjectTask
from portal.projects.projects import services as projects
from tests import factories
from tests.e2e.helpers import no_horizontal_scroll, submit_login
from tests.e2e.wecom_live import PHONE, WeComLive, wecom_live, wecom_phone  # noqa: F401

pytestmark = pytest.mark.e2e

TITLE = "医疗质量安全自查"



@pytest.fixture
def published(wecom_live: WeComLive) -> str:
    """A project published to cardiology (two materials); the secretary's WeCom card links to her task."""
    app, fake = wecom_live.app, wecom_live.fake
    fake.add_member("sec", "yiwu")
    fake.browser_user = "sec"
    with app.app_context():
        tree = factories.make_tree()
        factories.make_user("sec", roles=["dept_secretary"], department=tree.cardiology, name="孙秘书",
                            wecom_userid="sec")
        factories.make_user("yiwu", roles=["ma_admin", "ma_staff"], department=tree.hospital, name="医务科李")
        today = local_today()
        project = projects.save_draft(None, projects.ProjectData(
            "质量安全", TITLE, "请各科室提交自查材料。", today, today + timedelta(days=30), today + timedelta(days=10),
            [tree.cardiology.id], [projects.MaterialSpec("自查报告"), projects.MaterialSpec("现场照片")]))
        projects.publish(project)
        db.session.commit()
    wecom_live.deliver_outbox()
    card = wecom_live.fake.delivered[-1]["textcard"]
    assert card["title"] == f"医务项目待提交：{TITLE}"
    return card["url"]


def test_secretary_submits_on_the_phone_and_medical_affairs_passes(wecom_live, wecom_phone, published, browser,
                                                                   tmp_path):
    page = wecom_phone.new_page()
    violations: list[str] = []  # Chromium reports each refused script or style naming the policy
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(published)
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_test_id("current-user")).to_have_text("孙秘书")
    assert no_horizontal_scroll(page)
    cards = page.get_by_test_id("material")
    expect(cards).to_have_count(2)
    report, photo = tmp_path / "自查报告.pdf", tmp_path / "现场照片.png"
    report.write_bytes(samples.pdf("Self check"))
    photo.write_bytes(samples.png())
    for card, path in ((cards.nth(0), report), (cards.nth(1), photo)):
        card.locator('input[type="file"]').set_input_files(str(path))
        with page.expect_navigation():
            card.get_by_role("button", name="上传", exact=True).tap()
    expect(page.get_by_test_id("item-state")).to_have_text(["已上传", "已上传"])
    expect(page.get_by_text("自查报告.pdf")).to_be_visible()
    button = page.get_by_role("button", name="提交已上传的 2 项材料")
    box = button.bounding_box()
    assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= PHONE["width"]
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(tmp_path / "phone-task.png"), full_page=True)
    with page.expect_navigation():
        button.tap()
    expect(page.get_by_test_id("item-state")).to_have_text(["已提交", "已提交"])
    page.goto("/projects/tasks?show=all")  # nothing left to do: it shows under 全部
    expect(page.get_by_test_id("project-tasks")).to_contain_text(TITLE)
    assert no_horizontal_scroll(page)

    with wecom_live.app.app_context():
        task_id = db.session.scalar(select(ProjectTask.id))
        approvals = list(db.session.scalars(select(ProjectItem.approval_id).order_by(ProjectItem.id)))
    desktop = browser.new_context(base_url=wecom_live.base_url, locale="zh-CN", viewport={"width": 1440, "height": 900})
    try:
        ma = desktop.new_page()
        ma.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        ma.goto("/login")
        submit_login(ma, "yiwu", factories.PASSWORD)
        for approval_id in approvals:
            ma.goto(f"/approvals/{approval_id}")
            ma.get_by_test_id("approve").click()
            expect(ma.get_by_role("heading", level=1)).to_contain_text("已通过")
        ma.goto(f"/projects/tasks/{task_id}")
        expect(ma.get_by_test_id("item-state")).to_have_text(["已通过", "已通过"])
        ma.get_by_role("link", name="项目进度").click()
        row = ma.get_by_test_id("progress-matrix").locator("tbody tr")
        expect(row.locator("th")).to_contain_text("心内科")
        expect(row.locator("td")).to_have_text(["已通过", "已通过", "100%"])
        expect(ma.locator("h2", has_text="进度")).to_contain_text("完成率 100%")
        ma.goto("/projects/new")
        expect(ma.locator(".dept-tree label.depth-1")).to_have_text("心内病区")  # the ward under its department
        assert violations == []
    finally:
        desktop.close()
