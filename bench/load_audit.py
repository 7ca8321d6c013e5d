"""The auditor's log."""

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    auditor = ctx.cookie("baudit")
    return Load(pages=[Page("audit log", 4, [Request("audit log", "/audit/", auditor),
                                             Request("audit log", "/audit/?page=3", auditor)])])
