"""A department head approves from the WeCom card on a phone: one tap on the card, no password, two taps to decide.

The card pushed through the outbox (to a fake WeCom) links to the approval; the WeCom webview opens it
signed out, goes through WeCom's OAuth (the fake signs in "head") and lands on the approval page, where
the attachments are readable at phone width and the decision is within thumb reach.
"""

# ruff: noqa: F811  (the fixtures imported from tests.e2e.wecom_live are parameters of the tests)
from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from openpyxl import Workbook
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from portal.approvals import services
from portal.approvals.models import ApprovalAction, ApprovalInstance
from portal.auth.models import User
from portal.extensions import db
from portal.notify.models import Notification
from tests import (
    approval_subject,
    factories,
)
from tests.e2e.helpers import no_horizontal_scroll
from tests.e2e.wecom_live import PHONE, WeComLive, wecom_live, wecom_phone  # noqa: F401

pytestmark = pytest.mark.e2e

HEAD_NAME = "王主任"
TITLE = "业务学习记录：心电图判读"
MAX_TAPS = 2


@dataclass(frozen=True)
class PendingApproval:
    instance_id: int
    applicant_id: int
    employee_no: str
    card_url: str

    @property
    def path(self) -> str:
        return f"/approvals/{self.instance_id}"


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    """A valid RGB PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xc8\x32\x32" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pdf_bytes() -> bytes:
    """A valid one-page PDF (objects, cross-reference table with the right offsets, trailer)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << >> >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def xlsx_bytes() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["课程", "学时", "考核"])
    sheet.append(["心电图判读", 2, "合格"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def pending(wecom_live: WeComLive) -> PendingApproval:
    """A submitted study record waiting for the cardiology head, and the WeCom card pushed to them."""
    app, fake = wecom_live.app, wecom_live.fake
    fake.add_member("head", "doc")
    fake.browser_user = "head"
    with app.app_context():
        tree = factories.make_tree()
        applicant = factories.make_user("doc", roles=["clinician"], department=tree.cardiology, name="李医生",
                                        wecom_userid="doc")
        factories.make_user("head", roles=["dept_head"], department=tree.cardiology, name=HEAD_NAME,
                            wecom_userid="head")
        subject = factories.make_staff("待审人员", tree.cardiology)
        instance = services.submit(
            "t_study_record", entity_type="staff_review", entity_id=subject.id, title=TITLE, applicant=applicant,
            department_id=tree.cardiology.id, comment="请审核本月业务学习记录。",
            files=[("学习照片.png", png_bytes()), ("学习记录.pdf", pdf_bytes()), ("签到表.xlsx", xlsx_bytes())])
        db.session.commit()  # after the commit the outbox enqueues the push to the head
        ids = (instance.id, applicant.id, subject.employee_no)
    wecom_live.deliver_outbox()
    assert [body["touser"] for body in fake.delivered] == ["head"]
    card = fake.delivered[-1]["textcard"]
    assert card["title"] == f"待审批：{TITLE}"
    assert card["url"] == f"{wecom_live.base_url}/approvals/{ids[0]}"  # the deep link the head taps
    return PendingApproval(*ids, card_url=card["url"])


class Thumb:
    """Taps (touch), counted: the decision must not take more than MAX_TAPS of them."""

    def __init__(self) -> None:
        self.taps = 0

    def tap(self, target: Locator) -> None:
        self.taps += 1
        target.tap()



def open_card(page: Page, wecom_live: WeComLive, approval: PendingApproval) -> None:
    """Tap the card: the signed-out webview passes through WeCom's OAuth and lands on the approval, signed in."""
    page.goto(approval.card_url)
    expect(page).to_have_url(re.compile(rf"^{re.escape(approval.card_url)}(#.*)?$"))
    assert urlsplit(page.url).path == approval.path
    expect(page.get_by_test_id("current-user")).to_have_text(HEAD_NAME)
    # Through the (fake) WeCom authorize page, never the password form.
    assert len(wecom_live.fake.authorize_requests) == 1
    assert page.locator('input[name="password"]').count() == 0


def check_phone_layout(page: Page, approval: PendingApproval) -> None:
    """As it first shows, without scrolling: the request is readable and the decision is within thumb reach."""
    assert page.evaluate("window.scrollY") == 0
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)
    expect(page.get_by_role("heading", level=1)).to_contain_text("审批中")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("业务学习记录")  # the process
    expect(facts).to_contain_text("李医生")
    expect(facts.locator("dt", has_text="工号")).to_be_visible()
    expect(facts.locator("dd", has_text=approval.employee_no)).to_be_visible()
    expect(facts.locator("dd", has_text="心内科").first).to_be_visible()
    assert no_horizontal_scroll(page)

    approve = page.get_by_test_id("approve")
    expect(approve).to_be_visible()
    expect(approve).to_have_text("通过")
    box = approve.bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box  # the sticky action bar
    assert box["height"] >= 44, box
    back = page.get_by_role("button", name="退回修改", exact=True)
    back_box = back.bounding_box()
    assert back_box is not None and back_box["y"] + back_box["height"] <= PHONE["height"], back_box
    assert back_box["height"] >= 44, back_box
    comment = page.locator('textarea[name="comment"]')
    comment_box = comment.bounding_box()
    assert comment_box is not None and comment_box["y"] + comment_box["height"] <= PHONE["height"], comment_box


def check_attachments(page: Page, approval: PendingApproval) -> None:
    """The photo is shown, the PDF is embedded, the spreadsheet opens as a table (and back)."""
    attachments = page.locator("section.attachments")
    expect(attachments.get_by_role("heading")).to_have_text("附件（3）")

    image = attachments.locator("img")
    expect(image).to_have_attribute("alt", "学习照片.png")
    image.scroll_into_view_if_needed()  # loading="lazy": it loads once near the viewport
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    image_box = image.bounding_box()
    assert image_box is not None and image_box["x"] + image_box["width"] <= PHONE["width"], image_box

    frame = attachments.locator("iframe")
    expect(frame).to_have_attribute("title", "学习记录.pdf")
    expect(frame).to_have_attribute("src", re.compile(r"^/approvals/attachments/\d+$"))
    pdf = page.request.get(frame.get_attribute("src"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline")
    assert pdf.body().startswith(b"%PDF-1.4")
    frame_box = frame.bounding_box()
    assert frame_box is not None and frame_box["x"] + frame_box["width"] <= PHONE["width"], frame_box
    assert no_horizontal_scroll(page)

    sheet_link = attachments.get_by_role("link", name=re.compile("在线查看表格"))
    expect(sheet_link).to_contain_text("签到表.xlsx")
    sheet_link.tap()
    expect(page).to_have_url(re.compile(r"/approvals/attachments/\d+/table$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("签到表.xlsx")
    rows = page.locator("table.sheet tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td")).to_have_text(["课程", "学时", "考核"])
    expect(rows.nth(1).locator("td")).to_have_text(["心电图判读", "2", "合格"])
    expect(rows.nth(1).get_by_text("心电图判读", exact=True)).to_be_visible()
    assert no_horizontal_scroll(page)

    page.go_back()
    expect(page).to_have_url(re.compile(rf"{re.escape(approval.path)}(#.*)?$"))
    expect(page.get_by_test_id("approve")).to_be_visible()


def decide(page: Page, button: Locator, comment: str) -> tuple[Thumb, str]:
    """Tap the comment box, type, tap the decision: the body is swapped in place (no page load)."""
    url = page.url
    page.evaluate("window.__sameDocument = true")
    thumb = Thumb()
    thumb.tap(page.locator('textarea[name="comment"]'))
    page.keyboard.type(comment)
    thumb.tap(button)
    return thumb, url


def check_swapped(page: Page, url: str, thumb: Thumb, message: str, status_label: str) -> None:
    body = page.locator("#instance-body")
    expect(body.locator(".alert-success")).to_have_text(message)
    expect(body.get_by_role("heading", level=1)).to_contain_text(status_label)
    expect(page.locator("form.action-bar")).to_have_count(0)  # nothing left to decide
    assert page.evaluate("window.__sameDocument === true"), "the decision reloaded the page instead of swapping"
    assert page.url == url
    assert thumb.taps <= MAX_TAPS
    assert no_horizontal_scroll(page)


def applicant_notes(applicant_id: int) -> list[str]:
    return list(db.session.scalars(select(Notification.title).where(Notification.user_id == applicant_id)
                                   .order_by(Notification.id)))


def test_head_approves_from_the_wecom_card_on_a_phone(wecom_live, wecom_phone, pending):
    page = wecom_phone.new_page()
    open_card(page, wecom_live, pending)
    check_phone_layout(page, pending)
    check_attachments(page, pending)

    thumb, url = decide(page, page.get_by_test_id("approve"), "记录完整，同意。")
    check_swapped(page, url, thumb, "已通过", "已通过")

    with wecom_live.app.app_context():
        instance = db.session.get(ApprovalInstance, pending.instance_id)
        assert instance.status == "approved" and instance.finished_at is not None
        head = db.session.scalar(select(User).where(User.wecom_userid == "head"))
        last = db.session.scalars(select(ApprovalAction).where(ApprovalAction.instance_id == instance.id)
                                  .order_by(ApprovalAction.id.desc())).first()
        assert (last.action, last.actor_id, last.comment) == ("approve", head.id, "记录完整，同意。")
        assert applicant_notes(pending.applicant_id) == [f"审批通过：{TITLE}"]
        assert approval_subject.OUTCOMES[-1] == ("approved", instance.entity_id)

    wecom_live.deliver_outbox()  # and the applicant's phone is told too
    assert wecom_live.fake.delivered[-1]["touser"] == "doc"
    assert wecom_live.fake.delivered[-1]["textcard"]["title"] == f"审批通过：{TITLE}"


def test_head_returns_for_revision_from_the_wecom_card_on_a_phone(wecom_live, wecom_phone, pending):
    page = wecom_phone.new_page()
    open_card(page, wecom_live, pending)
    check_phone_layout(page, pending)

    thumb, url = decide(page, page.get_by_role("button", name="退回修改", exact=True), "缺少签到表签名，请补充。")
    check_swapped(page, url, thumb, "已退回申请人修改", "已退回修改")

    with wecom_live.app.app_context():
        instance = db.session.get(ApprovalInstance, pending.instance_id)
        assert instance.status == "returned" and instance.finished_at is None
        last = db.session.scalars(select(ApprovalAction).where(ApprovalAction.instance_id == instance.id)
                                  .order_by(ApprovalAction.id.desc())).first()
        assert (last.action, last.comment) == ("return", "缺少签到表签名，请补充。")
        assert applicant_notes(pending.applicant_id) == [f"退回修改：{TITLE}"]

    wecom_live.deliver_outbox()
    assert wecom_live.fake.delivered[-1]["touser"] == "doc"
    assert wecom_live.fake.delivered[-1]["textcard"]["title"] == f"退回修改：{TITLE}"
