"""The audit records that no generated row implies: sensitive-data views, exports and account changes spread
over the history (the domains' generators add the records of their own work)."""

from __future__ import annotations

from datetime import timedelta

from .kit import Context

KINDS = (("reveal", "user", "查看身份证号"), ("export", "audit_log", "导出审计日志"), ("update", "user", "修改账户"),
         ("reset_password", "user", "重置密码"), ("update", "staff", "修改人员档案"), ("unlock", "user", "解锁账户"))


def generate(ctx: Context) -> dict:
    s, rng = ctx.scale, ctx.rng
    users, start = ctx.ids["users"], ctx.day(s.days)
    for n in range(s.audit_extra):
        when = ctx.at(start + timedelta(days=n * s.days // s.audit_extra), 8 + n % 10, n % 60)
        action, entity, label = KINDS[n % len(KINDS)]
        actor = users[rng.randrange(len(users))]
        target = users[rng.randrange(len(users))]
        ctx.audit.add(when, ctx.user(actor), entity, target, action, label=label,
                      changes={"field": {"before": "旧值", "after": "新值"}} if action == "update" else {})
    return {"audit records": s.audit_extra}
