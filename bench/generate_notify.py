"""In-app notifications over the whole history: most read, the last weeks' partly unread."""

from __future__ import annotations

from datetime import timedelta

from portal.notify.models import Notification

from .kit import Context

KINDS = (("approval", "有新的审批待办", "/approvals/todo"), ("casemgmt", "明日任务清单已生成", "/casemgmt/tasks"),
         ("warning", "督导问题即将到期", "/supervision/"), ("system", "系统维护通知", "/"))


def generate(ctx: Context) -> dict:
    s, rng = ctx.scale, ctx.rng
    users = ctx.ids["users"] + ctx.ids.get("case_managers", [])
    start = ctx.day(s.days)
    rows = []
    for n in range(s.notifications):
        when = ctx.at(start + timedelta(days=n * s.days // s.notifications), 8 + n % 10, n % 60)
        category, title, link = KINDS[n % len(KINDS)]
        recent = when.date() > ctx.day(21)
        rows.append((users[rng.randrange(len(users))], category, title, "", link, when,
                     None if recent and n % 2 else when + timedelta(hours=3)))
    ctx.bulk(Notification, ("user_id", "category", "title", "body", "link", "created_at", "read_at"), rows)
    return {"notifications": len(rows)}
