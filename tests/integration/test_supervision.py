"""The supervision loop: issue -> rectification -> evaluation (accepted / rework), and the statistics."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.approvals.models import ApprovalTask
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.notify.models import Notification
from portal.supervision.models import Finding
from tests.conftest import text_of
from tests.factories import make_user


def setup_people(tree):
    make_user("yiwu", ["ma_admin", "ma_staff"], tree.hospital, name="医务科李")
    make_user("head", ["dept_head"], tree.cardiology, name="张主任")
    make_user("ohead", ["dept_head"], tree.surgery, name="周主任")


def issue(client, tree, days=7):
    client.login("yiwu")
    response = client.submit("/supervision/new", {
        "department_id": tree.cardiology.id, "title": "病历书写不规范", "description": "抽查 20 份病历，5 份首程超时",
        "deadline": (local_today() + timedelta(days=days)).isoformat()})
    assert response.status_code == 303, text_of(response)[-300:]
    client.submit("/logout")
    return db.session.scalar(select(Finding.id).order_by(Finding.id.desc()))


def test_full_loop_with_rework_then_acceptance(client, tree):
    setup_people(tree)
    fid = issue(client, tree)
    from portal.auth.models import User

    head = db.session.scalar(select(User).where(User.login_name == "head"))
    head_titles = db.session.scalars(select(Notification.title).where(Notification.user_id == head.id)).all()
    assert head_titles == ["督导问题待整改：病历书写不规范"]
    client.login("head")
    response = client.submit(f"/supervision/{fid}/answer", {"rectification": "已组织全科培训，建立每周自查"})
    assert response.status_code == 303
    assert db.session.get(Finding, fid, populate_existing=True).status == "answered"
    client.submit("/logout")
    client.login("yiwu")
    finding = db.session.get(Finding, fid, populate_existing=True)
    response = client.submit(f"/approvals/{finding.approval_id}/act", {"action": "return", "comment": "缺少自查记录"})
    assert response.status_code == 303
    assert db.session.get(Finding, fid, populate_existing=True).status == "rework"
    client.submit("/logout")
    client.login("head")
    assert client.submit(f"/supervision/{fid}/answer", {"rectification": "补充自查记录表"}).status_code == 303
    client.submit("/logout")
    client.login("yiwu")
    client.submit(f"/approvals/{finding.approval_id}/act", {"action": "approve", "comment": "整改到位"})
    finding = db.session.get(Finding, fid, populate_existing=True)
    assert finding.status == "accepted" and finding.rectification == "补充自查记录表"


def test_other_department_cannot_see_or_answer(client, tree):
    setup_people(tree)
    fid = issue(client, tree)
    client.login("ohead")
    assert client.get(f"/supervision/{fid}").status_code == 404
    assert client.submit(f"/supervision/{fid}/answer", {"rectification": "x"}).status_code == 404
    assert db.session.get(Finding, fid).status == "issued"
    assert "病历书写不规范" not in text_of(client.get("/supervision"))


def test_statistics_count_open_and_overdue_by_department(client, tree):
    setup_people(tree)
    fid = issue(client, tree)
    issue(client, tree)
    finding = db.session.get(Finding, fid)
    finding.deadline = local_today() - timedelta(days=1)
    db.session.commit()
    client.login("yiwu")
    page = text_of(client.get("/supervision"))
    assert "心内科 2 1 0" in page
    assert "病历书写不规范" in text_of(client.get("/supervision?overdue=1"))


def test_deadline_in_the_past_and_empty_answer_are_refused(client, tree):
    setup_people(tree)
    client.login("yiwu")
    response = client.submit("/supervision/new", {
        "department_id": tree.cardiology.id, "title": "t", "description": "d",
        "deadline": (local_today() - timedelta(days=1)).isoformat()})
    assert response.status_code == 422 and "不能早于今天" in text_of(response)
    client.submit("/logout")
    fid = issue(client, tree)
    client.login("head")
    response = client.submit(f"/supervision/{fid}/answer", {"rectification": "  "})
    assert response.status_code == 422 and "整改措施" in text_of(response)
    assert db.session.scalar(select(ApprovalTask.id)) is None


def test_export_follows_filters_and_scope(client, tree):
    import io

    from openpyxl import load_workbook

    setup_people(tree)
    issue(client, tree)
    client.login("ohead")  # another department: sees an empty export
    rows = list(load_workbook(io.BytesIO(client.get("/supervision/export").data)).active.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[2][0] == "科室"
    client.submit("/logout")
    client.login("yiwu")
    response = client.get("/supervision/export?status=issued")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert rows[3][:2] == ("心内科", "病历书写不规范") and rows[3][4] == "待整改"
