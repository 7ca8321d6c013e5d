"""The outbox: push messages as rows in the event's own transaction, delivered by jobs with retries.

A message is enqueued for delivery after its transaction commits; if Redis is down then, the
sweep (every minute) finds it later. A delivery claims its row with a conditional UPDATE, so two
workers never send the same message; WeCom's duplicate check covers a crash between send and mark.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from portal.core.timeutil import utcnow
from portal.extensions import db

from .models import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)
PER_MINUTE = 30  # WeCom: messages per app to one member
PER_HOUR = 1000
_PENDING_KEY = "portal_outbox_pending"


def add(notification, user, *, title: str, lines: list[str], url: str, btntxt: str = "详情") -> OutboxMessage | None:
    """Queue a WeCom text card for a user (no row for users without a WeCom account)."""
    if not user.wecom_userid:
        return None
    message = OutboxMessage(notification_id=notification.id if notification else None, user_id=user.id,
                            channel="wecom", status="pending", next_attempt_at=utcnow(),
                            payload={"title": title, "lines": lines, "url": url, "btntxt": btntxt})
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(_PENDING_KEY, []).append(message.id)
    return message


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING_KEY, [])
    if ids:
        enqueue_delivery(ids)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


def enqueue_delivery(ids: list[int]) -> int:
    """Put delivery jobs on the queue; with Redis down nothing is lost (the sweep retries)."""
    from portal.core.redis_conn import get_queue

    try:
        queue = get_queue()
        for message_id in ids:
            queue.enqueue("jobs.notify.deliver_outbox_message", message_id, job_timeout=60)
    except Exception as exc:  # Redis down or refusing: the row stays pending for the sweep
        log.warning("outbox: could not enqueue %s: %s", ids, exc)
        return 0
    return len(ids)


def _claim(message_id: int) -> OutboxMessage | None:
    now = utcnow()
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id,
               or_(OutboxMessage.status == "pending",
                   (OutboxMessage.status == "sending") & (OutboxMessage.locked_until < now)),
               OutboxMessage.next_attempt_at <= now)
        .values(status="sending", locked_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    # The claim is committed on its own: a second worker must see it before we talk to WeCom.
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.get(OutboxMessage, message_id, populate_existing=True)


def _rate_slot(wecom_userid: str) -> timedelta | None:
    """None when a message may go now; else how long to wait (WeCom drops extras silently)."""
    from portal.core.redis_conn import get_redis

    redis = get_redis()
    now = utcnow()
    minute_key = f"portal:wecom:rate:{current_app.config['WECOM_CORP_ID']}:{wecom_userid}:{now:%Y%m%d%H%M}"
    hour_key = f"portal:wecom:rate:{current_app.config['WECOM_CORP_ID']}:{wecom_userid}:{now:%Y%m%d%H}"
    pipe = redis.pipeline()
    pipe.incr(minute_key)
    pipe.expire(minute_key, 120)
    pipe.incr(hour_key)
    pipe.expire(hour_key, 7200)
    minute_count, _, hour_count, _ = pipe.execute()
    if minute_count <= PER_MINUTE and hour_count <= PER_HOUR:
        return None
    redis.decr(minute_key)
    redis.decr(hour_key)
    if hour_count > PER_HOUR:
        return timedelta(minutes=60 - now.minute, seconds=7)
    return timedelta(seconds=60 - now.second + 7)


def _retry_later(message: OutboxMessage, error: str, delay: timedelta, count_attempt: bool = True) -> None:
    if not count_attempt:
        message.attempts -= 1
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        message.last_error = f"{error}（已重试 {message.attempts} 次，停止重试）"
    else:
        message.status = "pending"
        message.last_error = error
        message.next_attempt_at = utcnow() + delay
    message.locked_until = None


def deliver(message_id: int) -> str:
    """Send one outbox message; returns its state afterwards. Safe to call twice: it sends once."""
    from portal.auth.models import User
    from portal.wecom.client import RateLimited, WeComError, WeComUnavailable, client_for, is_configured

    message = _claim(message_id)
    if message is None:
        current = db.session.get(OutboxMessage, message_id)
        return current.status if current else "missing"
    user = db.session.get(User, message.user_id)
    if user is None or not user.wecom_userid or not user.is_active_flag:
        message.status, message.last_error, message.locked_until = "skipped", "用户没有可用的企业微信账号", None
        return message.status
    if not is_configured(current_app):
        message.status, message.last_error, message.locked_until = "skipped", "企业微信未配置，未推送", None
        return message.status
    wait = _rate_slot(user.wecom_userid)
    if wait is not None:
        _retry_later(message, "超过企业微信每人发送频率限制，已延后发送", wait, count_attempt=False)
        return message.status
    payload = message.payload
    try:
        result = client_for(current_app).send_textcard(
            [user.wecom_userid], payload["title"], payload["lines"], payload["url"], payload.get("btntxt", "详情"))
    except RateLimited as exc:
        _retry_later(message, str(exc) or "企业微信接口调用过于频繁", timedelta(minutes=1))
    except WeComUnavailable as exc:
        _retry_later(message, str(exc), timedelta(seconds=min(3600, 30 * 2 ** message.attempts)))
    except WeComError as exc:
        if getattr(exc, "errcode", None) == -1:
            _retry_later(message, str(exc), timedelta(seconds=min(3600, 30 * 2 ** message.attempts)))
        else:
            message.status, message.last_error, message.locked_until = "failed", str(exc), None
    else:
        message.msgid = result.msgid or ""
        message.locked_until = None
        if user.wecom_userid in (result.invalid_users or []):
            message.status, message.last_error = "failed", f"企业微信账号 {user.wecom_userid} 无效或不在应用可见范围"
        else:
            message.status, message.sent_at, message.last_error = "sent", utcnow(), ""
    return message.status


def due_ids(limit: int = 500) -> list[int]:
    now = utcnow()
    stmt = (select(OutboxMessage.id)
            .where(or_((OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
                       (OutboxMessage.status == "sending") & (OutboxMessage.locked_until < now)))
            .order_by(OutboxMessage.id).limit(limit))
    return list(db.session.scalars(stmt))


def sweep() -> int:
    """Re-enqueue every message that is due (never enqueued, Redis was down, WeCom failed, worker died)."""
    ids = due_ids()
    return enqueue_delivery(ids) if ids else 0


def retry_failed(message_id: int) -> OutboxMessage | None:
    """An administrator sends a failed message again (e.g. after fixing the WeCom settings)."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status not in ("failed", "skipped"):
        return None
    from portal.core import audit

    before = {"status": message.status, "last_error": message.last_error}
    message.status, message.attempts, message.next_attempt_at, message.last_error = "pending", 0, utcnow(), ""
    db.session.flush()
    audit.record("update", "outbox_message", message.id, label=message.payload.get("title", ""), before=before,
                 after={"status": "pending", "last_error": ""})
    db.session.info.setdefault(_PENDING_KEY, []).append(message.id)
    return message
