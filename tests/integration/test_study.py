"""Study records: plans and records through the approval engine, attendance (ticks and phone sign-in), the
matrix, hours per year, reminders, scoping, export and bad input."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from portal.approvals.models import ApprovalAttachment
from portal.auth.models import User
from portal.core import timeutil
from portal.core.months import current_month, next_month
from portal.extensions import db
from portal.notify.models import Notification, OutboxMessage
from portal.study.attendance import services as attendance
from portal.study.matrix.queries import cell_state
from portal.study.models import StudyAttendance, StudyPlan, StudyRecord, StudyReminder, StudySession
from portal.study.records import services as records
from tests.conftest import text_of
from tests.factories import make_staff, make_user
from tests.sqlcount import TRANSACTION_CONTROL, statements

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def people(tree):
    make_user("yiwu", ["ma_admin", "ma_staff"], tree.hospital, name="医务科李")
    make_user("sec", ["dept_secretary"], tree.cardiology, name="孙秘书", wecom_userid="sec")
    make_user("head", ["dept_head"], tree.cardiology, name="张主任")
    make_user("doc", ["clinician"], tree.cardiology, name="刘医生")
    make_user("doc2", ["clinician"], tree.cardiology_ward, name="王医生")
    make_user("osec", ["dept_secretary"], tree.surgery, name="周秘书")


def user(login):
    return db.session.scalar(select(User).where(User.login_name == login))


def as_user(client, login):
    client.submit("/logout")
    client.login(login)


def month_url(tree, month, dept=None):
    return f"/study/departments/{(dept or tree.cardiology).id}/{month:%Y-%m}"


def plan_of(tree, month):
    stmt = select(StudyPlan).where(StudyPlan.department_id == tree.cardiology.id, StudyPlan.month == month)
    return db.session.scalar(stmt.execution_options(populate_existing=True))


def add_sessions(client, tree, month, days=(10, 20)):
    for day in days:
        response = client.submit(f"{month_url(tree, month)}/sessions", {
            "day": month.replace(day=day).isoformat(), "topic": f"病历书写规范{day}", "speaker": "张主任",
            "attendees": "全科医师", "minutes": "60"})
        assert response.status_code == 303, text_of(response)[-400:]


def review(client, approval_id, action, comment=""):
    as_user(client, "yiwu")
    response = client.submit(f"/approvals/{approval_id}/act", {"action": action, "comment": comment})
    assert response.status_code == 303, text_of(response)[-300:]


def approved_plan(client, tree, month):
    client.login("sec")
    add_sessions(client, tree, month)
    assert client.submit(f"{month_url(tree, month)}/submit", {"note": "本月计划"}).status_code == 303
    review(client, plan_of(tree, month).approval_id, "approve", "同意")
    return plan_of(tree, month)


def start_record(client, tree, session, starts="16:30"):
    as_user(client, "sec")
    response = client.submit(f"/study/sessions/{session.id}/record", {"starts": starts, "minutes": "60"})
    assert response.status_code == 303, text_of(response)[-300:]
    return db.session.scalar(select(StudyRecord).where(StudyRecord.session_id == session.id))


def matrix_state(client, tree, month):
    response = client.get(f"/study?year={month.year}")
    assert response.status_code == 200
    from portal.study.matrix.queries import cells

    cell = cells([tree.cardiology.id], month, month).get((tree.cardiology.id, month))
    return cell.state if cell else "none"


class _MatrixTable(HTMLParser):
    """The matrix as shown: per department row its name, its year's address, and each month cell as (address,
    the badge's state class or None for a dash, the text); the footer's cells as text."""

    def __init__(self):
        super().__init__()
        self.rows, self.foot, self.section, self.row, self.cell, self.text = [], [], None, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("thead", "tbody", "tfoot"):
            self.section = tag
        elif tag == "tr" and self.section == "tbody":
            self.row = {"name": None, "href": None, "cells": [], "rate": None}
        elif tag == "th" and self.row is not None:
            self.cell = "th"
        elif tag == "td":
            self.cell, self.text = {"href": None, "state": None, "num": "num" in (attrs.get("class") or "")}, ""
        elif tag == "a" and self.row is not None:
            if self.cell == "th":
                self.row["href"], self.text = attrs["href"], ""
            elif isinstance(self.cell, dict):
                self.cell["href"] = attrs["href"]
        elif tag == "span" and isinstance(self.cell, dict):
            self.cell["state"] = attrs.get("class")

    def handle_data(self, data):
        if self.text is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "th" and self.row is not None and self.cell == "th":
            self.row["name"], self.cell, self.text = self.text, None, None
        elif tag == "td" and isinstance(self.cell, dict):
            if self.section == "tfoot":
                self.foot.append(self.text)
            elif self.cell["num"]:
                self.row["rate"] = self.text
            else:
                self.row["cells"].append((self.cell["href"], self.cell["state"], self.text))
            self.cell, self.text = None, None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None


def matrix_table(html: str) -> tuple[dict[str, dict], list[str]]:
    """{department name: its row} and the footer cells of the matrix page."""
    parser = _MatrixTable()
    parser.feed(html)
    return {r["name"]: r for r in parser.rows}, parser.foot


def test_plan_goes_through_review_returned_with_a_comment_then_resubmitted_and_approved(client, tree):
    people(tree)
    month = current_month()
    client.login("sec")
    add_sessions(client, tree, month)
    assert matrix_state(client, tree, month) == "none"  # a draft is not yet a plan
    response = client.submit(f"{month_url(tree, month)}/submit", {"note": "请审核"},
                             content_type="multipart/form-data")
    assert response.status_code == 303
    plan = plan_of(tree, month)
    assert plan.status == "submitted" and len(plan.sessions) == 2
    assert matrix_state(client, tree, month) == "submitted"
    review(client, plan.approval_id, "return", "第二次学习缺少主讲人职称")
    assert plan_of(tree, month).status == "returned"
    assert matrix_state(client, tree, month) == "returned"
    # Only the one who submitted sends it back (the engine's rule), and the head is told so, nothing changed.
    as_user(client, "head")
    response = client.submit(f"{month_url(tree, month)}/submit", {"note": "主任代交"})
    assert response.status_code == 403 and "原提交人（孙秘书）" in text_of(response)
    assert plan_of(tree, month).status == "returned"
    as_user(client, "sec")
    page = text_of(client.get(month_url(tree, month)))
    assert "重新提交计划" in page
    assert client.submit(f"{month_url(tree, month)}/submit", {"note": "已补充"}).status_code == 303
    assert plan_of(tree, month).status == "submitted"
    review(client, plan.approval_id, "approve", "同意")
    assert plan_of(tree, month).status == "approved"
    assert matrix_state(client, tree, month) == "approved"
    # An approved plan is read-only.
    as_user(client, "sec")
    response = client.submit(f"{month_url(tree, month)}/sessions", {
        "day": month.replace(day=5).isoformat(), "topic": "x", "speaker": "y", "minutes": "60"})
    assert response.status_code == 409 and "不能修改" in text_of(response)
    assert len(plan_of(tree, month).sessions) == 2


def test_record_review_attendance_and_matrix_partial_then_complete(client, tree):
    people(tree)
    month = current_month()
    plan = approved_plan(client, tree, month)
    first, second = plan.sessions
    record = start_record(client, tree, first)
    staff = {u: user(u).staff_id for u in ("doc", "doc2", "head")}
    other = make_staff("外科医生", tree.surgery)
    # Ticking someone of another department is refused, nothing changes.
    response = client.submit(f"/study/records/{record.id}/attendance", {"staff_ids": [staff["doc"], other.id]})
    assert response.status_code == 422 and "只能勾选本科室的人员" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(StudyAttendance)) == 0
    response = client.submit(f"/study/records/{record.id}/attendance", {"staff_ids": [staff["doc"], staff["doc2"]]})
    assert response.status_code == 303
    assert client.submit(f"/study/records/{record.id}", {"speaker": "张主任", "minutes": "90",
                                                        "summary": "讲解病历书写要点"}).status_code == 303
    # A wrong file type is refused with nothing changed.
    response = client.submit(f"/study/records/{record.id}/submit",
                             {"attachments": (io.BytesIO(b"MZ..."), "现场.exe")}, content_type="multipart/form-data")
    assert response.status_code == 422 and "附件只接受" in text_of(response)
    assert db.session.get(StudyRecord, record.id, populate_existing=True).status == "draft"
    response = client.submit(f"/study/records/{record.id}/submit",
                             {"attachments": (io.BytesIO(PNG), "现场.png")}, content_type="multipart/form-data")
    assert response.status_code == 303, text_of(response)[-300:]
    record = db.session.get(StudyRecord, record.id, populate_existing=True)
    assert record.status == "submitted"
    assert db.session.scalar(select(ApprovalAttachment.filename).where(
        ApprovalAttachment.instance_id == record.approval_id)) == "现场.png"
    assert matrix_state(client, tree, month) == "partial"
    review(client, record.approval_id, "return", "照片不清晰")
    assert matrix_state(client, tree, month) == "returned"
    as_user(client, "sec")
    assert client.submit(f"/study/records/{record.id}/submit", {}).status_code == 303
    review(client, record.approval_id, "approve")
    assert matrix_state(client, tree, month) == "partial"
    second_record = start_record(client, tree, second)
    client.submit(f"/study/records/{second_record.id}/attendance", {"staff_ids": [staff["doc"]]})
    client.submit(f"/study/records/{second_record.id}", {"speaker": "刘医生", "minutes": "60", "summary": "病例讨论"})
    assert client.submit(f"/study/records/{second_record.id}/submit", {}).status_code == 303
    review(client, db.session.get(StudyRecord, second_record.id, populate_existing=True).approval_id, "approve")
    assert matrix_state(client, tree, month) == "complete"
    # Hours: doc 90 + 60 minutes, doc2 90 minutes, head none.
    assert attendance.study_hours(staff["doc"], month.year) == 2.5
    assert attendance.study_hours(staff["doc2"], month.year) == 1.5
    assert attendance.study_hours(staff["head"], month.year) == 0
    assert attendance.study_hours(staff["doc"], month.year - 1) == 0
    # Several years in one query: the same hours as year by year (the capability page reads two years).
    assert attendance.study_hours_by_year(staff["doc"], (month.year, month.year - 1)) == {
        month.year: 2.5, month.year - 1: 0}
    as_user(client, "doc")
    assert "2.5" in text_of(client.get("/study/my-hours"))
    # The year's hours also stand on the person's capability page (能力展示).
    page = client.get("/credentials/capability/me")
    assert page.status_code == 200
    assert f'data-testid="study-hours-{month.year}">2.5 学时' in page.get_data(as_text=True)


def test_each_cell_state():
    assert cell_state(None, 0, 0, 0, 0) == "none"
    assert cell_state("draft", 2, 0, 0, 0) == "none"
    assert cell_state("submitted", 2, 0, 0, 0) == "submitted"
    assert cell_state("returned", 2, 0, 0, 0) == "returned"
    assert cell_state("approved", 2, 0, 0, 0) == "approved"
    assert cell_state("approved", 2, 1, 1, 0) == "partial"
    assert cell_state("approved", 2, 2, 1, 0) == "partial"
    assert cell_state("approved", 2, 2, 1, 1) == "returned"
    assert cell_state("approved", 2, 2, 2, 0) == "complete"


def test_completion_rates_and_totals_in_the_matrix_and_its_export(client, tree):
    people(tree)
    month = current_month()
    plan = approved_plan(client, tree, month)
    for s in plan.sessions:
        db.session.add(StudyRecord(session_id=s.id, department_id=tree.cardiology.id, month=month, held_on=s.day,
                                   starts_at=datetime.now(UTC), minutes=60, topic=s.topic, speaker="x", summary="y",
                                   status="approved", signin_token=f"t{s.id}"))
    db.session.commit()
    as_user(client, "yiwu")
    from portal.study.matrix.queries import build

    matrix = build(user("yiwu").principal, month.replace(month=1), month.replace(month=12))
    names = [r.department.name for r in matrix.rows]
    assert names == ["心内科", "普外科", "骨科"]
    due = month.month
    assert matrix.due_cells == 3 * due and matrix.complete_cells == 1
    assert matrix.rate == pytest.approx(1 / (3 * due))
    page = client.get(f"/study?year={month.year}")
    assert f'href="{month_url(tree, month)}"' in page.get_data(as_text=True)
    assert f"{1 / (3 * due) * 100:.1f}%" in text_of(page)
    south = client.get(f"/study?year={month.year}&division={tree.south.id}")
    assert "骨科" in text_of(south) and "心内科" not in text_of(south)
    response = client.get(f"/study/export?year={month.year}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    header = next(r for r in rows if r and r[0] == "科室")
    cardiology = next(r for r in rows if r and r[0] == "心内科")
    assert cardiology[header.index(f"{month.year}年{month.month}月")] == "已完成"
    assert cardiology[header.index("已完成月数")] == 1
    # The phone view of one department's row.
    row = client.get(f"/study/departments/{tree.cardiology.id}?year={month.year}")
    assert row.status_code == 200 and "已完成 1 /" in text_of(row)


def _open_record(client, tree, offset_minutes):
    """A record whose session started `offset_minutes` ago (negative: starts in the future)."""
    month = current_month()
    plan = approved_plan(client, tree, month)
    record = start_record(client, tree, plan.sessions[0])
    shift_start(record, offset_minutes)
    client.submit("/logout")
    return record


def shift_start(record, minutes_ago):
    stored = db.session.get(StudyRecord, record.id, populate_existing=True)
    stored.starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    db.session.commit()


def test_sign_in_on_time_late_twice_and_only_for_oneself(client, tree):
    people(tree)
    record = _open_record(client, tree, 2)
    client.login("doc")
    url = f"/study/signin/{record.signin_token}"
    page = client.get(url)
    assert page.status_code == 200 and "本人签到（刘医生）" in text_of(page)
    # Naming someone else changes nothing: the attendee is always the signed-in user.
    response = client.submit(url, {"staff_id": user("doc2").staff_id})
    assert response.status_code == 200 and "已签到" in text_of(response)
    rows = db.session.scalars(select(StudyAttendance)).all()
    assert [(a.staff_id, a.method, a.late, a.minutes) for a in rows] == [(user("doc").staff_id, "signin", False, 60)]
    again = client.submit(url)
    assert again.status_code == 200 and "无需重复签到" in text_of(again)
    assert db.session.scalar(select(func.count()).select_from(StudyAttendance)) == 1
    shift_start(record, 25)
    as_user(client, "doc2")
    late = client.submit(url)
    assert "迟到" in text_of(late)
    mine = db.session.scalar(select(StudyAttendance).where(StudyAttendance.staff_id == user("doc2").staff_id))
    assert mine.late and 34 <= mine.minutes <= 35


@pytest.mark.parametrize("offset", [-45, 61])
def test_sign_in_outside_the_window_is_refused(client, tree, offset):
    people(tree)
    record = _open_record(client, tree, offset)
    client.login("doc")
    response = client.submit(f"/study/signin/{record.signin_token}")
    assert response.status_code == 409 and "不在签到时间内" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(StudyAttendance)) == 0


def test_a_concurrent_second_sign_in_finds_the_first(client, tree, monkeypatch):
    people(tree)
    record = _open_record(client, tree, 0)
    doc = user("doc")
    # The other tap's row is committed between this request's check and its insert: the unique key decides.
    db.session.add(StudyAttendance(record_id=record.id, staff_id=doc.staff_id, held_on=record.held_on,
                                   method="signin", late=False, minutes=60))
    db.session.commit()
    real = attendance.own_attendance
    calls = []

    def first_misses(rec, staff_id):
        calls.append(staff_id)
        return None if len(calls) == 1 else real(rec, staff_id)

    monkeypatch.setattr(attendance, "own_attendance", first_misses)
    row, fresh = attendance.sign_in(db.session.get(StudyRecord, record.id), doc)
    assert not fresh and row.staff_id == doc.staff_id
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(StudyAttendance)) == 1


def test_bad_input_is_refused_with_nothing_changed(client, tree, monkeypatch):
    people(tree)
    # The limit lowered so the test's upload stays in memory (the real one is 10 MB).
    monkeypatch.setattr("portal.approvals.services.MAX_ATTACHMENT_BYTES", 200 * 1024)
    month = current_month()
    client.login("sec")
    outside = next_month(month).replace(day=3)
    response = client.submit(f"{month_url(tree, month)}/sessions", {
        "day": outside.isoformat(), "topic": "病历", "speaker": "张", "minutes": "60"})
    assert response.status_code == 422 and "学习日期必须在" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(StudySession)) == 0
    response = client.submit(f"{month_url(tree, month)}/sessions", {"day": "not a date", "topic": "", "speaker": ""})
    assert response.status_code == 422
    assert client.get(f"/study/departments/{tree.cardiology.id}/2026-13").status_code == 400
    # Another department: not even visible.
    response = client.submit(f"{month_url(tree, month, tree.surgery)}/sessions", {
        "day": month.replace(day=3).isoformat(), "topic": "病历", "speaker": "张", "minutes": "60"})
    assert response.status_code == 404
    add_sessions(client, tree, month, days=(12,))
    big = io.BytesIO(b"%PDF" + b"0" * (200 * 1024 + 1))
    response = client.submit(f"{month_url(tree, month)}/submit", {"attachments": (big, "计划.pdf")},
                             content_type="multipart/form-data")
    assert response.status_code == 422 and "“计划.pdf”超过" in text_of(response)
    assert plan_of(tree, month).status == "draft" and plan_of(tree, month).approval_id is None


def test_scoping_other_department_gets_404_and_medical_affairs_sees_all(client, tree):
    people(tree)
    month = current_month()
    plan = approved_plan(client, tree, month)
    record = start_record(client, tree, plan.sessions[0])
    as_user(client, "osec")
    assert client.get(month_url(tree, month)).status_code == 404
    assert client.get(f"/study/records/{record.id}").status_code == 404
    assert client.submit(f"/study/records/{record.id}/attendance", {"staff_ids": []}).status_code == 404
    assert client.submit(f"/study/sessions/{plan.sessions[1].id}/record", {"starts": "16:00"}).status_code == 404
    assert client.get(f"/study/departments/{tree.cardiology.id}").status_code == 404
    matrix = text_of(client.get("/study"))
    assert "普外科" in matrix and "心内科" not in matrix
    as_user(client, "yiwu")
    assert client.get(f"/study/records/{record.id}").status_code == 200
    assert client.submit(f"/study/records/{record.id}/attendance", {"staff_ids": []}).status_code == 403
    qr = client.get(f"/study/records/{record.id}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    as_user(client, "doc")
    assert client.get("/study").status_code == 403
    assert client.get("/study/my-hours").status_code == 200


def test_reminders_once_per_department_and_month(client, tree, app, monkeypatch):
    people(tree)
    from portal.study.reminders import send_reminders

    today = current_month().replace(day=25)
    app.config["STUDY_REMINDER_DAY"] = 25
    assert send_reminders(today - timedelta(days=1)) == {"reminded": 0, "skipped": 0}
    first = send_reminders(today)
    db.session.commit()
    assert first["reminded"] == 3  # 心内科, 普外科, 骨科: nothing planned, nothing recorded
    second = send_reminders(today + timedelta(days=1))
    db.session.commit()
    assert second == {"reminded": 0, "skipped": 3}
    titles = db.session.scalars(select(Notification.title).where(Notification.user_id == user("sec").id)).all()
    assert titles == ["业务学习提醒：心内科"]
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user("head").id, Notification.category == "study")) == 1
    card = db.session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == user("sec").id))
    assert card.payload["url"].endswith(month_url(tree, next_month(current_month(today))))
    assert db.session.scalar(select(func.count()).select_from(StudyReminder)) == 3


def test_reminder_job_runs_twice_through_the_queue_and_reminds_once(app, tree, monkeypatch):
    from rq import SimpleWorker

    import jobs
    from jobs.study import send_reminders
    from portal.core.redis_conn import get_queue

    people(tree)
    day = current_month().replace(day=26)
    monkeypatch.setattr(timeutil, "_now", lambda: datetime(day.year, day.month, day.day, 2, tzinfo=UTC))
    app.config["STUDY_REMINDER_DAY"] = 25
    jobs.use_app(app)
    queue = get_queue()
    results = []
    for _ in range(2):
        job = queue.enqueue(send_reminders)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        job.refresh()
        assert job.is_finished, job.latest_result()
        results.append(job.return_value())
    assert [r["reminded"] for r in results] == [3, 0]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.category == "study")) == 3  # 心内科's secretary and head, 普外科's secretary


def test_the_matrix_links_every_cell_and_costs_the_same_queries_for_more_departments(client, app, tree):
    """Each cell's address is the one url_for builds (the page fills a pattern instead), and the page's queries
    do not grow with the departments or cells shown."""
    import re

    from flask import url_for

    from portal.auth.models import Department

    people(tree)
    month = current_month()
    approved_plan(client, tree, month)
    as_user(client, "yiwu")
    def page() -> str:
        seen.clear()
        response = client.get(f"/study?year={month.year}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    with statements(app.extensions["db.engine"], leave_out=TRANSACTION_CONTROL) as seen:
        page()  # the first request also caches the user's roles
        html = page()
        few = len(seen)
        departments = db.session.scalars(select(Department).where(Department.kind == "department")).all()
        table, _ = matrix_table(html)
        links = {href for row in table.values() for href, _, _ in row["cells"]}
        with app.test_request_context():
            expected = {url_for("study.department_month", department_id=d.id, month=f"{m:%Y-%m}")
                        for d in departments for m in (month.replace(month=n) for n in range(1, 13))}
            rows = {url_for("study.department_row", department_id=d.id, year=month.year) for d in departments}
        assert links == expected
        assert rows <= set(re.findall(r'<th scope="row" data-label="科室"><a href="([^"]+)"', html))
        assert table["心内科"]["cells"][month.month - 1][1:] == ("wait", "计划已通过")
        for n in range(6):
            db.session.add(Department(name=f"新科室{n}", code=f"NEW{n}", kind="department",
                                      parent_id=tree.north.id, path=f"{tree.north.path}{tree.north.id}/"))
        db.session.commit()
        page()  # new departments move the sign-in cache's generation: the first request reloads the user
        cells = sum(len(row["cells"]) for row in table.values())
        assert cells + 6 * 12 == sum(len(row["cells"]) for row in matrix_table(page())[0].values())
        assert len(seen) == few


def test_each_cell_links_to_its_department_month_and_shows_its_state(client, app, tree):
    """Every month cell of every department opens that department-month and shows that month's state as its
    badge (word and colour); months not yet due without a plan are a dash that still links; the footer counts
    the complete departments per month."""
    from flask import url_for

    from portal.study.models import CELL_BADGE, CELL_STATES

    people(tree)
    year = current_month().year - 1
    plans = {  # (department, month): (plan status, sessions, approved records, returned records)
        (tree.cardiology, 1): ("submitted", 1, 0, 0), (tree.cardiology, 2): ("approved", 2, 0, 0),
        (tree.cardiology, 3): ("approved", 2, 1, 0), (tree.cardiology, 4): ("approved", 1, 1, 0),
        (tree.cardiology, 5): ("draft", 1, 0, 0), (tree.cardiology, 6): ("approved", 2, 1, 1),
        (tree.surgery, 3): ("returned", 1, 0, 0), (tree.surgery, 4): ("approved", 2, 2, 0),
        (tree.orthopaedics, 12): ("approved", 1, 1, 0)}
    expected = {(tree.cardiology, 1): "submitted", (tree.cardiology, 2): "approved", (tree.cardiology, 3): "partial",
                (tree.cardiology, 4): "complete", (tree.cardiology, 6): "returned", (tree.surgery, 3): "returned",
                (tree.surgery, 4): "complete", (tree.orthopaedics, 12): "complete"}
    for (dept, number), (status, sessions, approved, returned) in plans.items():
        month = date(year, number, 1)
        plan = StudyPlan(department_id=dept.id, month=month, status=status, note="")
        db.session.add(plan)
        for n in range(sessions):
            session = StudySession(plan=plan, day=month.replace(day=n + 1), topic=f"主题{n}", speaker="张主任")
            db.session.add(session)
            if n < approved + returned:
                db.session.add(StudyRecord(session=session, department_id=dept.id, month=month, held_on=session.day,
                                           starts_at=datetime.now(UTC), minutes=60, topic=session.topic, speaker="x",
                                           status="approved" if n < approved else "returned",
                                           signin_token=f"t{dept.id}-{number}-{n}"))
    db.session.commit()
    as_user(client, "yiwu")
    table, foot = matrix_table(client.get(f"/study?year={year}").get_data(as_text=True))
    assert list(table) == ["心内科", "普外科", "骨科"]
    with app.test_request_context():
        for dept in (tree.cardiology, tree.surgery, tree.orthopaedics):
            row = table[dept.name]
            assert row["href"] == url_for("study.department_row", department_id=dept.id, year=year)
            assert len(row["cells"]) == 12
            for number, (href, badge, text) in enumerate(row["cells"], start=1):
                state = expected.get((dept, number), "none")
                assert href == url_for("study.department_month", department_id=dept.id, month=f"{year}-{number:02d}")
                assert (badge, text) == (CELL_BADGE[state], CELL_STATES[state]), (dept.name, number)
    assert table["心内科"]["rate"] == f"{1 / 12 * 100:.1f}%" and table["普外科"]["rate"] == f"{1 / 12 * 100:.1f}%"
    assert foot[:12] == [f"{ {4: 2, 12: 1}.get(n, 0)} / 3" for n in range(1, 13)]
    # Next year: nothing is due yet, so a month without a plan is a dash (no badge) that still opens the month.
    table, foot = matrix_table(client.get(f"/study?year={year + 2}").get_data(as_text=True))
    with app.test_request_context():
        ortho = tree.orthopaedics.id
        assert table["骨科"]["cells"] == [
            (url_for("study.department_month", department_id=ortho, month=f"{year + 2}-{n:02d}"), None, "—")
            for n in range(1, 13)]


def test_the_matrix_leaves_out_departments_that_are_not_clinical(client, tree):
    people(tree)
    as_user(client, "yiwu")
    month = current_month()
    def rows() -> set[str]:
        html = client.get(f"/study?year={month.year}").get_data(as_text=True)
        return set(re.findall(r'<th scope="row" data-label="科室"><a href="[^"]+">([^<]+)</a>', html))

    assert {tree.cardiology.name, tree.surgery.name} <= rows()
    from portal.auth.models import Department

    # e.g. an administrative office in the same tree
    db.session.execute(update(Department).where(Department.id == tree.surgery.id).values(clinical=False))
    db.session.commit()
    assert tree.cardiology.name in rows() and tree.surgery.name not in rows()


def test_the_department_month_reads_its_sessions_and_records_in_one_query(client, app, tree):
    people(tree)
    month = current_month()
    plan = approved_plan(client, tree, month)
    first, second = plan.sessions
    start_record(client, tree, first)
    def page() -> str:
        seen.clear()
        response = client.get(month_url(tree, month))
        assert response.status_code == 200
        return text_of(response)

    with statements(app.extensions["db.engine"], leave_out=TRANSACTION_CONTROL) as seen:
        page()
        assert "出勤 0 人" in page()
        few = len(seen)
        record = start_record(client, tree, second)
        staff = set(db.session.scalars(select(User.staff_id).where(User.login_name.in_(("doc", "doc2")))))
        records.set_attendance(record, staff)
        db.session.commit()
        text = page()
        assert "出勤 0 人" in text and "出勤 2 人" in text and len(seen) == few
