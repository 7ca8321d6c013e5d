"""The approval engine: steps, approver rules, return/resubmit, transfer, withdraw, reminders, pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.approvals import services
from portal.approvals.models import ApprovalInstance, ApprovalTask, Committee
from portal.auth.models import User
from portal.core.service import Conflict, ServiceError
from portal.core.timeutil import utcnow
from portal.extensions import db
from portal.notify.models import Notification, OutboxMessage
from tests import approval_subject
from tests.conftest import text_of
from tests.factories import make_staff, make_user


@pytest.fixture
def people(tree):
    class P:
        applicant = make_user("doc", ["clinician"], tree.cardiology_ward, name="刘医生", wecom_userid="doc")
        head = make_user("head", ["dept_head"], tree.cardiology, name="张主任", wecom_userid="head")
        other_head = make_user("ohead", ["dept_head"], tree.surgery, name="周主任")
        ma = make_user("ma", ["ma_staff"], tree.hospital, name="医务科陈")
        boss = make_user("boss", ["ma_admin"], tree.hospital, name="医务科李")
        member1 = make_user("m1", ["committee"], tree.surgery, name="委员甲")
        member2 = make_user("m2", ["committee"], tree.orthopaedics, name="委员乙")
        subject = make_staff("待审人员", tree.cardiology)
    committee = db.session.scalar(select(Committee).where(Committee.code == "tech"))
    committee.members = [db.session.get(User, P.member1.id), db.session.get(User, P.member2.id)]
    db.session.commit()
    approval_subject.OUTCOMES.clear()
    return P


def submit(people, process="t_qualification", comment="请审核"):
    instance = services.submit(process, entity_type="staff_review", entity_id=people.subject.id, title="刘医生资质审核",
                               applicant=db.session.get(User, people.applicant.id),
                               department_id=people.applicant.staff.department_id, comment=comment)
    db.session.commit()
    return instance.id


def user(u):
    return db.session.get(User, u.id)


def task_of(instance_id, who):
    return db.session.scalar(select(ApprovalTask).where(ApprovalTask.instance_id == instance_id,
                                                        ApprovalTask.assignee_id == who.id,
                                                        ApprovalTask.status == "pending"))


def titles(who):
    return list(db.session.scalars(select(Notification.title).where(Notification.user_id == who.id)
                                   .order_by(Notification.id)))


def instance(instance_id):
    return db.session.get(ApprovalInstance, instance_id, populate_existing=True)


def test_two_steps_notify_each_approver_and_the_applicant(session, people):
    iid = submit(people)
    # A ward's applicant goes to the head of the department above the ward.
    assert titles(people.head) == ["待审批：刘医生资质审核"]
    assert titles(people.other_head) == []
    services.act(task_of(iid, people.head).id, user(people.head), "approve", "同意")
    db.session.commit()
    assert instance(iid).status == "pending" and instance(iid).step_position == 2
    assert "待审批：刘医生资质审核" in titles(people.ma)
    assert titles(people.applicant) == ["审批进展：刘医生资质审核"]
    assert approval_subject.OUTCOMES == []  # nothing says approved before the last step
    services.act(task_of(iid, people.ma).id, user(people.ma), "approve")
    db.session.commit()
    assert instance(iid).status == "approved"
    assert titles(people.applicant)[-1] == "审批通过：刘医生资质审核"
    assert [("approved", people.subject.id)] == approval_subject.OUTCOMES


def test_push_messages_are_written_to_the_outbox_for_wecom_users(session, people):
    submit(people)
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == people.head.id)).all()
    assert len(rows) == 1 and rows[0].status == "pending"
    assert rows[0].payload["url"].endswith("/approvals/1") or "/approvals/" in rows[0].payload["url"]
    assert not db.session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == people.ma.id)).all()


def test_return_and_resubmit_starts_again(session, people):
    iid = submit(people)
    with pytest.raises(ServiceError):  # a reason is required
        services.act(task_of(iid, people.head).id, user(people.head), "return", "")
    db.session.rollback()
    services.act(task_of(iid, people.head).id, user(people.head), "return", "缺少证书复印件")
    db.session.commit()
    assert instance(iid).status == "returned"
    assert "退回修改：刘医生资质审核" in titles(people.applicant)
    services.resubmit(iid, user(people.applicant), "已补充")
    db.session.commit()
    assert instance(iid).status == "pending" and instance(iid).step_position == 1
    assert task_of(iid, people.head) is not None


def test_reject_ends_the_request(session, people):
    iid = submit(people)
    services.act(task_of(iid, people.head).id, user(people.head), "reject", "不符合条件")
    db.session.commit()
    assert instance(iid).status == "rejected"
    assert [("rejected", people.subject.id)] == approval_subject.OUTCOMES


def test_committee_all_must_sign(session, people):
    iid = submit(people, "t_privilege")
    services.act(task_of(iid, people.head).id, user(people.head), "approve")
    services.act(task_of(iid, people.ma).id, user(people.ma), "approve")
    db.session.commit()
    assert instance(iid).step_position == 3
    services.act(task_of(iid, people.member1).id, user(people.member1), "approve")
    db.session.commit()
    assert instance(iid).status == "pending"  # the second member has not signed
    services.act(task_of(iid, people.member2).id, user(people.member2), "approve")
    db.session.commit()
    assert instance(iid).status == "approved"


def audit_rows() -> int:
    from portal.core.audit import AuditLog

    return db.session.scalar(select(func.count()).select_from(AuditLog))


def refused_transfer(iid, who, target_id, match):
    """A transfer the service refuses with a Chinese reason, before anything is written."""
    before = (audit_rows(), db.session.scalar(select(func.count()).select_from(ApprovalTask)))
    with pytest.raises(ServiceError, match=match) as refused:
        services.act(task_of(iid, who).id, user(who), "transfer", "请代审", transfer_to=target_id)
    assert refused.value.status == 422 and refused.value.field == "transfer_to"
    assert (audit_rows(), db.session.scalar(select(func.count()).select_from(ApprovalTask))) == before
    assert task_of(iid, who) is not None


def test_transfer_to_an_eligible_person_moves_the_task_and_is_audited(session, people, tree):
    iid = submit(people)
    # A deputy head appointed after the request reached the department: eligible, not yet involved.
    deputy = make_user("dep", ["dept_head"], tree.cardiology, name="王副主任")
    assert [u.id for u in services.transfer_candidates(task_of(iid, people.head))] == [deputy.id]
    services.act(task_of(iid, people.head).id, user(people.head), "transfer", "请代审", transfer_to=deputy.id)
    db.session.commit()
    assert task_of(iid, people.head) is None
    assert task_of(iid, deputy) is not None
    assert "待审批（转办）：刘医生资质审核" in titles(deputy)
    from portal.core.audit import AuditLog

    entry = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "approval_instance")
                               .order_by(AuditLog.id.desc())).first()
    assert entry.changes["action"] == "transfer"
    assert entry.changes["transfer_to"] == {"id": deputy.id, "name": "王副主任"}


def test_transfer_to_the_applicant_is_refused(session, people):
    iid = submit(people)
    refused_transfer(iid, people.head, people.applicant.id, "申请人不能审批自己的申请")
    assert services.transfer_candidates(task_of(iid, people.head)) == []


def test_transfer_outside_the_steps_rule_or_to_someone_involved_is_refused(session, people):
    iid = submit(people)
    # The step is the applicant's department head: medical affairs and another department's head are not.
    refused_transfer(iid, people.head, people.boss.id, "不是“科主任审核”这一步的审批人")
    refused_transfer(iid, people.head, people.other_head.id, "不是“科主任审核”这一步的审批人")
    refused_transfer(iid, people.head, 999999, "请从列表中选择")
    refused_transfer(iid, people.head, people.head.id, "不能转办给自己")
    services.withdraw(iid, user(people.applicant))
    db.session.commit()
    # Every committee member must sign: one member cannot hand their signature to another.
    iid = submit_privilege_to_committee(people)
    refused_transfer(iid, people.member1, people.member2.id, "已参与本申请的审批")
    # Nor back to someone who signed an earlier step, even if they join the committee later.
    committee = db.session.scalar(select(Committee).where(Committee.code == "tech"))
    committee.members = [*committee.members, user(people.head)]
    db.session.commit()
    refused_transfer(iid, people.member1, people.head.id, "已参与本申请的审批")


def submit_privilege_to_committee(people):
    iid = submit(people, "t_privilege")
    services.act(task_of(iid, people.head).id, user(people.head), "approve")
    services.act(task_of(iid, people.ma).id, user(people.ma), "approve")
    db.session.commit()
    assert instance(iid).step_position == 3
    return iid


def test_a_department_heads_own_request_goes_to_the_office(session, people, tree):
    subject = make_staff("主任本人的资质", tree.surgery)
    iid = services.submit("t_qualification", entity_type="staff_review", entity_id=subject.id, title="周主任资质审核",
                          applicant=user(people.other_head), department_id=tree.surgery.id).id
    db.session.commit()
    assert task_of(iid, people.other_head) is None  # never their own approver
    assert task_of(iid, people.boss) is not None
    assert [a.action for a in instance(iid).actions] == ["submit", "reroute"]


def test_transfer_form_lists_only_eligible_people_and_refuses_forged_ids(client, people, tree):
    iid = submit(people)
    deputy = make_user("dep", ["dept_head"], tree.cardiology, name="王副主任")
    client.login("head")
    page = client.get(f"/approvals/{iid}").get_data(as_text=True)
    assert f'<option value="{deputy.id}">王副主任' in page
    for stranger in (people.applicant, people.boss, people.other_head):
        assert f'<option value="{stranger.id}">' not in page
    for forged in (str(people.applicant.id), str(people.boss.id), "abc", "²", "", "9" * 30):
        response = client.submit(f"/approvals/{iid}/act", {"action": "transfer", "transfer_to": forged}, htmx=True)
        assert response.status_code == 422, forged
        assert "申请人" in text_of(response) or "审批人" in text_of(response) or "选择" in text_of(response)
        assert task_of(iid, people.head) is not None
    assert task_of(iid, people.applicant) is None and task_of(iid, people.boss) is None
    response = client.submit(f"/approvals/{iid}/act", {"action": "transfer", "transfer_to": str(deputy.id)})
    assert response.status_code == 303 and task_of(iid, deputy) is not None
    from portal.core.audit import AuditLog

    entry = db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert (entry.user_id, entry.changes["transfer_to"]["id"]) == (people.head.id, deputy.id)


def test_applicant_progress_message_carries_the_approvers_comment(session, people):
    from portal.wecom.client import DESCRIPTION_MAX_BYTES, build_description

    iid = submit(people)
    services.act(task_of(iid, people.head).id, user(people.head), "approve", "同意，材料齐全")
    db.session.commit()
    note = db.session.scalars(select(Notification).where(Notification.user_id == people.applicant.id)).one()
    assert "张主任" in note.body and "意见：同意，材料齐全" in note.body
    long_comment = "病例资料完整" * 300
    services.act(task_of(iid, people.ma).id, user(people.ma), "approve", long_comment)
    db.session.commit()
    final = db.session.scalars(select(Notification).where(Notification.user_id == people.applicant.id)
                               .order_by(Notification.id.desc())).first()
    assert final.title.startswith("审批通过") and long_comment in final.body  # in-app: the whole comment
    push = db.session.scalars(select(OutboxMessage).where(OutboxMessage.notification_id == final.id)).one()
    card = build_description(push.payload["lines"])
    assert "意见：病例资料完整" in card and len(card.encode()) <= DESCRIPTION_MAX_BYTES  # WeCom: cut


def test_approving_twice_or_someone_elses_task_is_refused(session, people):
    iid = submit(people)
    task_id = task_of(iid, people.head).id
    with pytest.raises(ServiceError) as not_mine:
        services.act(task_id, user(people.ma), "approve")
    assert not_mine.value.status == 404
    services.act(task_id, user(people.head), "approve")
    db.session.commit()
    with pytest.raises(Conflict) as again:
        services.act(task_id, user(people.head), "approve")
    assert "“已通过”" in again.value.message and "已已" not in again.value.message


def test_withdraw_by_the_applicant_only(session, people):
    iid = submit(people)
    with pytest.raises(ServiceError):
        services.withdraw(iid, user(people.head))
    db.session.rollback()
    services.withdraw(iid, user(people.applicant), "不需要了")
    db.session.commit()
    assert instance(iid).status == "withdrawn"
    with pytest.raises(Conflict):  # acting on a withdrawn request
        services.act(db.session.scalar(select(ApprovalTask.id).where(ApprovalTask.instance_id == iid)),
                     user(people.head), "approve")


def test_process_without_withdrawal(session, people):
    iid = submit(people, "t_budget_change")
    with pytest.raises(ServiceError, match="不允许撤回"):
        services.withdraw(iid, user(people.applicant))


def test_duplicate_submission_is_refused(session, people):
    submit(people)
    with pytest.raises(ServiceError, match="重复提交"):
        submit(people)


def test_overdue_tasks_are_reminded_once_then_escalated(session, people):
    iid = submit(people)
    task = task_of(iid, people.head)
    task.due_at = utcnow() - timedelta(hours=1)
    task.escalate_at = utcnow() + timedelta(hours=10)
    db.session.commit()
    assert services.remind_overdue() == {"reminded": 1, "escalated": 0}
    assert services.remind_overdue() == {"reminded": 0, "escalated": 0}
    task = task_of(iid, people.head)
    task.escalate_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert services.remind_overdue()["escalated"] == 1
    assert any(t.startswith("审批严重超时") for t in titles(people.boss))


# --- through the pages ---

def test_todo_page_and_approve_with_htmx(client, people):
    iid = submit(people)
    client.login("head")
    assert "刘医生资质审核" in text_of(client.get("/approvals/todo"))
    page = text_of(client.get(f"/approvals/{iid}"))
    assert people.subject.employee_no in page and "请审核" in page  # the summary and the timeline
    response = client.submit(f"/approvals/{iid}/act", {"action": "approve", "comment": "同意"}, htmx=True)
    assert response.status_code == 200
    assert "approvals-changed" in response.headers["HX-Trigger"]
    assert "<html" not in response.get_data(as_text=True) and "已通过" in text_of(response)
    again = client.submit(f"/approvals/{iid}/act", {"action": "approve"}, htmx=True)
    assert again.status_code == 409 and "没有待处理的任务" in text_of(again)


def test_strangers_cannot_see_or_act(client, people):
    iid = submit(people)
    client.login("ohead")
    assert client.get(f"/approvals/{iid}").status_code == 404
    assert client.submit(f"/approvals/{iid}/act", {"action": "approve"}).status_code == 404
    assert instance(iid).status == "pending"


def test_medical_affairs_sees_every_request(client, people):
    iid = submit(people)
    client.login("boss")
    assert client.get(f"/approvals/{iid}").status_code == 200


def test_oversized_comment_and_bad_attachment_change_nothing(client, people):
    iid = submit(people)
    client.login("head")
    response = client.submit(f"/approvals/{iid}/act", {"action": "approve", "comment": "长" * 2001})
    assert response.status_code == 422 and "2000" in text_of(response)
    import io

    fake_pdf = (io.BytesIO(b"MZ not a pdf"), "证明.pdf")
    response = client.submit(f"/approvals/{iid}/act", {"action": "approve", "attachments": fake_pdf},
                             content_type="multipart/form-data")
    assert response.status_code == 422 and "不符" in text_of(response)
    assert instance(iid).status == "pending" and task_of(iid, people.head) is not None


def test_attachments_open_inline_and_excel_as_a_table(client, people):
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["姓名", "分数"])
    wb.active.append(["刘医生", 95])
    buffer = io.BytesIO()
    wb.save(buffer)
    iid = services.submit("t_qualification", entity_type="staff_review", entity_id=people.subject.id, title="附件测试",
                          applicant=user(people.applicant), department_id=people.applicant.staff.department_id,
                          files=[("成绩.xlsx", buffer.getvalue()), ("照片.png", b"\x89PNG\r\n\x1a\nrest")]).id
    db.session.commit()
    client.login("head")
    page = client.get(f"/approvals/{iid}").get_data(as_text=True)
    assert "<img" in page and "在线查看表格" in page
    ids = [a.id for a in instance(iid).actions[0].attachments]
    image = client.get(f"/approvals/attachments/{ids[1]}")
    assert image.headers["Content-Disposition"].startswith("inline") and image.mimetype == "image/png"
    table = text_of(client.get(f"/approvals/attachments/{ids[0]}/table"))
    assert "刘医生" in table and "95" in table
    client.submit("/logout")
    client.login("ohead")
    assert client.get(f"/approvals/attachments/{ids[1]}").status_code == 404


def test_process_admin_adds_a_step(client, people, tree):
    client.login("boss")
    from portal.approvals.models import ApprovalProcess

    process = db.session.scalar(select(ApprovalProcess).where(ApprovalProcess.code == "t_study_record"))
    response = client.submit(f"/approvals/processes/{process.id}/steps", {
        "name": "医务科备案", "rule": "role", "role_code": "ma_staff", "committee_mode": "any",
        "time_limit_hours": "24"})
    assert response.status_code == 303
    process = db.session.get(ApprovalProcess, process.id, populate_existing=True)
    assert [s.name for s in process.steps] == ["科主任审核", "医务科备案"]
    bad = client.submit(f"/approvals/processes/{process.id}/steps", {"name": "x", "rule": "user",
                                                                     "user_login": "nobody", "committee_mode": "any"})
    assert bad.status_code == 422 and "找不到该登录名" in text_of(bad)


def test_process_admin_needs_the_permission(client, people):
    client.login("head")
    assert client.get("/approvals/processes").status_code == 403


def test_counts_stay_consistent(session, people):
    submit(people)
    assert db.session.scalar(select(func.count()).select_from(ApprovalTask)) == 1


def test_filtered_lists_answer(client, people):
    submit(people)
    client.login("doc")
    assert "刘医生资质审核" in text_of(client.get("/approvals/mine?status=pending"))
    assert "刘医生资质审核" not in text_of(client.get("/approvals/mine?status=approved"))
    assert client.get("/approvals/mine?status=bogus").status_code == 400
    assert "待审批" in text_of(client.get("/notifications")) or client.get("/notifications").status_code == 200
    client.submit("/logout")
    client.login("boss")
    response = client.get("/notifications/outbox?status=pending")
    assert response.status_code == 200 and "待审批：刘医生资质审核" in text_of(response)
    assert client.get("/notifications/outbox?status=sent").status_code == 200


def test_notification_centre_marks_read_and_counts(client, people):
    submit(people)
    client.login("head")
    badge = client.get("/notifications/unread")
    assert 'data-testid="unread-count">1<' in badge.get_data(as_text=True)
    note_id = db.session.scalar(select(Notification.id).where(Notification.user_id == people.head.id))
    response = client.submit(f"/notifications/{note_id}/read")
    assert response.status_code == 303 and response.headers["Location"].startswith("/approvals/")
    assert "unread-count" not in client.get("/notifications/unread").get_data(as_text=True)
    client.submit("/logout")
    client.login("doc")
    assert client.submit(f"/notifications/{note_id}/read").status_code == 404  # someone else's


def test_committee_members_are_managed_and_audited(client, people):
    client.login("boss")
    committee = db.session.scalar(select(Committee).where(Committee.code == "tech"))
    url = f"/approvals/committees/{committee.id}/members"
    assert client.submit(url, {"login_name": "head"}).status_code == 303
    assert client.submit(url, {"login_name": "m1", "remove": "1"}).status_code == 303
    page = text_of(client.get("/approvals/committees"))
    assert "张主任（head" in page and "委员甲（m1" not in page
    assert "找不到该登录名" in text_of(client.submit(url, {"login_name": "nobody"}, follow_redirects=True))
    from portal.core.audit import AuditLog

    change = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "committee")).all()[-1]
    assert change.changes["members"]["after"] == ["head", "m2"]
    client.submit("/logout")
    client.login("head")
    assert client.submit(url, {"login_name": "doc"}).status_code == 403


def pending_tasks_of_open_requests_only():
    """The to-do list reads approval_tasks alone: a task is pending only while its request is."""
    return db.session.scalar(select(func.count()).select_from(ApprovalTask).join(ApprovalInstance).where(
        ApprovalTask.status == "pending", ApprovalInstance.status != "pending")) == 0


@pytest.mark.parametrize("ending", ["reject", "return", "withdraw", "approve"])
def test_every_way_out_of_pending_cancels_the_open_tasks(session, people, ending):
    iid = submit(people, "t_privilege")
    if ending == "withdraw":
        services.withdraw(iid, user(people.applicant), "不需要了")
    elif ending == "approve":
        for who in (people.head, people.ma, people.member1, people.member2):
            services.act(task_of(iid, who).id, user(who), "approve")
            db.session.commit()
    else:
        services.act(task_of(iid, people.head).id, user(people.head), ending, "不符合条件")
    db.session.commit()
    assert instance(iid).status != "pending"
    assert pending_tasks_of_open_requests_only()


def test_todo_lists_the_earliest_deadline_first_and_no_deadline_last(client, people):
    from portal.approvals import queries

    ids = [submit(people)]
    for n in range(2):
        people.subject = make_staff(f"待审人员{n}", people.subject.department)
        ids.append(submit(people))
    tasks = [task_of(i, people.head) for i in ids]
    tasks[0].due_at, tasks[1].due_at, tasks[2].due_at = None, utcnow() + timedelta(days=2), utcnow() + timedelta(days=1)
    db.session.commit()
    page = queries.todo(people.head.id, 1, 20)
    assert [row.instance_id for row in page.items] == [ids[2], ids[1], ids[0]] and page.total == 3
    assert page.items[0].applicant_name == "刘医生" and page.items[0].process_name
    assert queries.todo(people.head.id, 9, 2).page == 2  # past the end: the last page
    client.login("head")
    body = text_of(client.get("/approvals/todo"))
    assert body.count("刘医生资质审核") == 3 and "不限" in body and "（3）" in body
