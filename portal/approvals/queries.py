"""The approval lists: my todo, my requests, what I have handled."""

from __future__ import annotations

from sqlalchemy import Select, func, literal_column, select

from portal.auth.models import Staff, User
from portal.core.listing import Page, first_page, paginate

from .models import ApprovalInstance, ApprovalProcess, ApprovalTask


# A task is pending only while its request is: every path that decides, returns or withdraws a request
# cancels its open tasks in the same transaction (services._cancel_open_tasks), so the to-do list reads
# approval_tasks alone, in the order of its partial index, and joins the request only for the 20 rows shown.
def _pending(user_id: int):
    # The state as a literal, not a parameter: a generic (prepared) plan must still match the partial index.
    return (ApprovalTask.assignee_id == user_id, ApprovalTask.status == literal_column("'pending'"))


def _task_rows(where, order) -> Select:
    """The columns a task list shows, as plain rows (no ORM objects for a read-only list)."""
    return (select(ApprovalTask.id, ApprovalTask.instance_id, ApprovalTask.step_name, ApprovalTask.status,
                   ApprovalTask.due_at, ApprovalTask.acted_at, ApprovalInstance.title,
                   ApprovalProcess.name.label("process_name"),
                   func.coalesce(Staff.name, User.login_name).label("applicant_name"))
            .join(ApprovalInstance, ApprovalInstance.id == ApprovalTask.instance_id)
            .join(ApprovalProcess, ApprovalProcess.id == ApprovalInstance.process_id)
            .join(User, User.id == ApprovalInstance.applicant_id)
            .outerjoin(Staff, Staff.id == User.staff_id)
            .where(*where).order_by(*order))


def _task_page(where, order, page: int, per_page: int) -> Page:
    """One count over approval_tasks alone (no joins) and one page of rows."""
    return paginate(_task_rows(where, order), page, per_page, scalars=False,
                    count_stmt=select(ApprovalTask.id).where(*where))


TODO_ORDER = (ApprovalTask.due_at.asc().nulls_last(), ApprovalTask.id)


def todo(user_id: int, page: int, per_page: int) -> Page:
    """The user's pending tasks, the earliest deadline first (none last): ix_approval_tasks_todo."""
    return _task_page(_pending(user_id), TODO_ORDER, page, per_page)


def todo_head(user_id: int, shown: int) -> Page:
    """The most urgent few of the user's pending tasks and how many there are, in one statement (home panel)."""
    where = _pending(user_id)
    return first_page(_task_rows(where, TODO_ORDER), shown, count_stmt=select(ApprovalTask.id).where(*where))


def mine(user_id: int, status: str, page: int, per_page: int) -> Page:
    stmt = select(ApprovalInstance).where(ApprovalInstance.applicant_id == user_id)
    if status:
        stmt = stmt.where(ApprovalInstance.status == status)
    return paginate(stmt.order_by(ApprovalInstance.id.desc()), page, per_page)


def done(user_id: int, page: int, per_page: int) -> Page:
    where = (ApprovalTask.assignee_id == user_id,
             ApprovalTask.status.in_(("approved", "rejected", "returned", "transferred")))
    return _task_page(where, (ApprovalTask.acted_at.desc(), ApprovalTask.id.desc()), page, per_page)
