"""The approval lists: my todo, my requests, what I have handled."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.core.listing import Page, paginate
from portal.extensions import db

from .models import ApprovalInstance, ApprovalTask


def todo(user_id: int, page: int, per_page: int) -> Page:
    stmt = (select(ApprovalTask).join(ApprovalInstance, ApprovalTask.instance_id == ApprovalInstance.id)
            .options(selectinload(ApprovalTask.instance))
            .where(ApprovalTask.assignee_id == user_id, ApprovalTask.status == "pending",
                   ApprovalInstance.status == "pending")
            .order_by(ApprovalTask.due_at.is_(None), ApprovalTask.due_at, ApprovalTask.id))
    return paginate(stmt, page, per_page)


def todo_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(ApprovalTask).join(ApprovalInstance).where(
        ApprovalTask.assignee_id == user_id, ApprovalTask.status == "pending",
        ApprovalInstance.status == "pending")) or 0


def mine(user_id: int, status: str, page: int, per_page: int) -> Page:
    stmt = select(ApprovalInstance).where(ApprovalInstance.applicant_id == user_id)
    if status:
        stmt = stmt.where(ApprovalInstance.status == status)
    return paginate(stmt.order_by(ApprovalInstance.id.desc()), page, per_page)


def done(user_id: int, page: int, per_page: int) -> Page:
    stmt = (select(ApprovalTask).options(selectinload(ApprovalTask.instance))
            .where(ApprovalTask.assignee_id == user_id,
                   ApprovalTask.status.in_(("approved", "rejected", "returned", "transferred")))
            .order_by(ApprovalTask.acted_at.desc(), ApprovalTask.id.desc()))
    return paginate(stmt, page, per_page)
