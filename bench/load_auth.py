"""Administration lists."""

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    admin = ctx.cookie("bsys")
    return Load(pages=[
        Page("admin: users", 4, [Request("admin: users", "/admin/users", admin),
                                 Request("admin: users", "/admin/users?q=u00&sort=-name", admin)]),
        Page("admin: staff", 2, [Request("admin: staff", "/admin/staff?page=20", admin)]),
    ])
