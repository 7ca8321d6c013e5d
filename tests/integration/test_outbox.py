"""The outbox: a push survives Redis and WeCom being down, and is delivered exactly once."""

# ruff: noqa: F811
from __future__ import annotations

import pytest
from rq import SimpleWorker
from sqlalchemy import select

import jobs
from portal.approvals import services
from portal.core.redis_conn import get_queue
from portal.extensions import db
from portal.notify import outbox
from portal.notify.models import OutboxMessage
from tests import approval_subject  # noqa: F401  (registers the test subject)
from tests.factories import make_staff, make_tree, make_user
from tests.wecom_fixtures import fake_wecom, wecom_app  # noqa: F401


def drain(app):
    queue = get_queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@pytest.fixture
def flow(wecom_app, fake_wecom):
    jobs.use_app(wecom_app)
    tree = make_tree()
    applicant = make_user("doc", ["clinician"], tree.cardiology, wecom_userid="doc")
    make_user("head", ["dept_head"], tree.cardiology, wecom_userid="head")
    fake_wecom.add_member("doc", "head")
    subject = make_staff("待审人员", tree.cardiology)
    return applicant, subject


def submit(applicant, subject):
    from portal.auth.models import User

    user = db.session.get(User, applicant.id)
    services.submit("t_study_record", entity_type="staff_review", entity_id=subject.id, title="业务学习记录",
                    applicant=user, department_id=user.staff.department_id)
    db.session.commit()


def test_push_is_delivered_through_the_queue(wecom_app, fake_wecom, flow):
    submit(*flow)
    drain(wecom_app)
    assert [body["touser"] for body in fake_wecom.delivered] == ["head"]
    card = fake_wecom.delivered[0]["textcard"]
    assert card["title"] == "待审批：业务学习记录" and "/approvals/" in card["url"]
    assert db.session.scalars(select(OutboxMessage.status)).all() == ["sent"]


def test_redis_down_then_back_delivers_exactly_once(wecom_app, fake_wecom, flow, monkeypatch):
    def broken_queue(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr("portal.core.redis_conn.get_queue", broken_queue)
    submit(*flow)  # the approval itself succeeds
    assert db.session.scalars(select(OutboxMessage.status)).all() == ["pending"]
    monkeypatch.undo()
    assert outbox.sweep() == 1
    assert outbox.sweep() == 1  # swept twice before any worker ran: still one message out
    db.session.commit()
    drain(wecom_app)
    assert [body["touser"] for body in fake_wecom.delivered] == ["head"]
    assert outbox.sweep() == 0


def test_wecom_down_is_retried_later(wecom_app, fake_wecom, flow):
    with fake_wecom.outage():
        submit(*flow)
        drain(wecom_app)
    message = db.session.scalars(select(OutboxMessage).execution_options(populate_existing=True)).one()
    assert message.status == "pending" and message.attempts == 1 and message.last_error
    assert fake_wecom.delivered == []
    message.next_attempt_at = message.created_at  # due again
    db.session.commit()
    outbox.sweep()
    db.session.commit()
    drain(wecom_app)
    assert [body["touser"] for body in fake_wecom.delivered] == ["head"]


def test_rate_limited_send_is_not_hammered(wecom_app, fake_wecom, flow):
    fake_wecom.fail_next_send(45009, times=1)
    submit(*flow)
    drain(wecom_app)
    message = db.session.scalars(select(OutboxMessage).execution_options(populate_existing=True)).one()
    assert message.status == "pending" and fake_wecom.send_calls == 1


def test_deliver_twice_sends_once(wecom_app, fake_wecom, flow, monkeypatch):
    monkeypatch.setattr("portal.notify.outbox.enqueue_delivery", lambda ids: 0)
    submit(*flow)
    message_id = db.session.scalar(select(OutboxMessage.id))
    assert outbox.deliver(message_id) == "sent"
    db.session.commit()
    assert outbox.deliver(message_id) == "sent"
    assert len(fake_wecom.delivered) == 1


def test_without_wecom_configuration_messages_are_skipped(session, tree):
    applicant = make_user("doc", ["clinician"], tree.cardiology, wecom_userid="doc")
    make_user("head", ["dept_head"], tree.cardiology, wecom_userid="head")
    subject = make_staff("待审人员", tree.cardiology)
    from unittest import mock

    with mock.patch("portal.notify.outbox.enqueue_delivery", return_value=0):
        submit(applicant, subject)
    message_id = db.session.scalar(select(OutboxMessage.id))
    assert outbox.deliver(message_id) == "skipped"
    assert "未配置" in db.session.get(OutboxMessage, message_id).last_error


def test_failed_message_is_sent_again_on_request_and_audited(wecom_app, fake_wecom, flow):
    from portal.core.audit import AuditLog

    fake_wecom.fail_next_send(40001, times=1)  # a configuration error: not retried by itself
    submit(*flow)
    drain(wecom_app)
    message = db.session.scalars(select(OutboxMessage).execution_options(populate_existing=True)).one()
    assert message.status == "failed" and message.last_error
    assert outbox.retry_failed(message.id) is not None
    db.session.commit()
    drain(wecom_app)
    assert db.session.get(OutboxMessage, message.id, populate_existing=True).status == "sent"
    change = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "outbox_message")).one()
    assert change.changes["status"] == {"before": "failed", "after": "pending"}
