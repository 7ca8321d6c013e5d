"""Notifications: written with the event that causes them; pushed to WeCom through the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update

from portal.auth.models import User
from portal.core.listing import Page, first_page, paginate
from portal.core.timeutil import format_datetime, utcnow
from portal.extensions import db

from . import outbox
from .models import Notification, categories


def absolute_url(path: str) -> str:
    """A link for a pushed message: the portal's public address plus the path."""
    if path.startswith(("http://", "https://")):
        return path
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


def notify(user_ids: Iterable[int], category: str, title: str, body: str = "", link: str = "",
           push: bool = True, when: datetime | None = None) -> list[Notification]:
    """Tell users something: an in-app notification each, and (push=True) a WeCom message through the outbox."""
    if category not in categories():
        raise ValueError(f"unknown notification category {category}")
    ids = sorted({uid for uid in user_ids if uid is not None})
    if not ids:
        return []
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids), User.is_active_flag))}
    created = []
    when = when or utcnow()
    for uid in ids:
        user = users.get(uid)
        if user is None:
            continue
        note = Notification(user_id=uid, category=category, title=title[:128], body=body, link=link, created_at=when)
        db.session.add(note)
        created.append(note)
    db.session.flush()
    if push:
        for note in created:
            user = users[note.user_id]
            lines = [format_datetime(when), body] if body else [format_datetime(when)]
            outbox.add(note, user, title=note.title, lines=lines, url=absolute_url(link or "/notifications"))
    return created


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def list_notifications(user_id: int, category: str, unread_only: bool, page: int, per_page: int) -> Page:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if category:
        stmt = stmt.where(Notification.category == category)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return paginate(stmt.order_by(Notification.id.desc()), page, per_page)


def unread_head(user_id: int, shown: int) -> Page:
    """The newest few unread notifications (title, time) and how many are unread, in one statement (home panel)."""
    stmt = (select(Notification.title, Notification.created_at)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None)).order_by(Notification.id.desc()))
    return first_page(stmt, shown)


def mark_read(user_id: int, notification_id: int) -> Notification | None:
    """Mark one of the user's own notifications read (another user's is treated as absent)."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != user_id:
        return None
    if note.read_at is None:
        note.read_at = utcnow()
    return note


def mark_all_read(user_id: int, category: str = "") -> int:
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if category:
        stmt = stmt.where(Notification.category == category)
    result = db.session.execute(stmt.values(read_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount or 0
