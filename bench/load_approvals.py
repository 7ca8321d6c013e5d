"""Medical affairs' approval to-do list."""

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    todo = Request("approvals: to do", "/approvals/todo", ctx.cookie("bma"))
    return Load(pages=[Page("approvals: to do", 6, [todo])])
