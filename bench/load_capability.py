"""Capability pages (能力展示) in the mix: a person's page and a department's page as medical affairs (``bma``) and
as a department head (``bhNNN``, where the harness has signed one in), and the department report.

Part of the credentials domain's load: ``bench.load_credentials`` adds these pages to its own."""

from __future__ import annotations

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    from sqlalchemy import func, select

    from portal.auth.models import Staff, User
    from portal.credentials.models.privileges import Privilege
    from portal.extensions import db

    with ctx.app.app_context():
        # A busy person (most privileges) and that person's department: the heaviest ordinary pages.
        busy = db.session.execute(select(Privilege.staff_id, Staff.department_id)
                                  .join(Staff, Staff.id == Privilege.staff_id)
                                  .group_by(Privilege.staff_id, Staff.department_id)
                                  .order_by(func.count().desc()).limit(1)).first()
        heads = {login: dept for login, dept in db.session.execute(
            select(User.login_name, Staff.department_id).join(Staff, Staff.id == User.staff_id)
            .where(User.login_name.like("bh%")))}
        colleague = {}
        for login, dept in heads.items():
            if login in ctx.sessions:
                colleague[login] = (dept, db.session.scalar(select(Staff.id).where(Staff.department_id == dept)
                                                            .order_by(Staff.id).limit(1)))
    pages = []
    if busy is not None:
        staff_id, dept = busy
        ma = ctx.cookie("bma")
        pages += [
            Page("ma: capability person", 2, [Request("ma: capability person",
                                                      f"/credentials/capability/people/{staff_id}", ma)]),
            Page("ma: capability department", 2, [Request("ma: capability department",
                                                          f"/credentials/capability/departments?department_id={dept}",
                                                          ma)]),
            Page("ma: capability report", 1, [Request("ma: capability report",
                                                      "/reports/cap_department_privileges", ma)]),
        ]
    for login, (_dept, person) in list(colleague.items())[:1]:
        head = ctx.cookie(login)
        pages += [
            Page("head: capability department", 2, [Request("head: capability department",
                                                            "/credentials/capability/departments", head)]),
            Page("head: capability person", 2, [Request("head: capability person",
                                                        f"/credentials/capability/people/{person}", head)]),
        ]
    return Load(pages=pages)
