"""The technology catalogue over the whole history: 3,000 entries (300 at the small scale), each with one to five
revisions spread over the years (grade changes, departments, some disabled), department links and audit records."""

from __future__ import annotations

from datetime import timedelta

from portal.catalogue.models import FLAGS, Technology, TechnologyDepartment, TechnologyRevision
from portal.catalogue.technologies.demo import operations

from .kit import Context

ENTRIES = {"small": 300}
DEFAULT_ENTRIES = 3_000
REASONS = ("院内手术分级目录年度调整", "调整可开展科室", "更新国家临床版3.0编码映射", "停止开展", "恢复开展")


def generate(ctx: Context) -> dict:
    rng, s = ctx.rng, ctx.scale
    total = ENTRIES.get(s.name, DEFAULT_ENTRIES)
    ops = list(operations())
    depts = ctx.ids["departments"]
    codes = {dept_id: code for code, dept_id in ctx.departments.items()}
    author = ctx.users.get("bma")
    start = ctx.day(s.days)
    techs, links, history = [], [], []
    for n in range(total):
        op = ops[n % len(ops)]
        round_ = n // len(ops)
        name = op.name if round_ == 0 else f"{op.name}（{round_ + 1}型）"
        created = ctx.at(start + timedelta(days=rng.randint(0, max(1, s.days // 5))), 9)
        allowed = sorted(rng.sample(depts, k=min(len(depts), rng.randint(1, 3))))
        state = {"code": f"SS{n + 1:05d}", "national_code": op.national_code, "insurance_code": op.insurance_code,
                 "name": name, "category": op.category, "grade": op.grade, **op.flags,
                 "prerequisites": ["YSZYZ"], "departments": sorted(codes[d] for d in allowed), "status": "active",
                 "note": ""}
        revisions = [(created, dict(state), "初始手术字典", "import")]
        when = created
        for _ in range(rng.choice((0, 0, 1, 1, 2, 4))):
            when = when + timedelta(days=rng.randint(30, max(31, s.days // 4)))
            if when.date() >= ctx.today:
                break
            reason = rng.choice(REASONS)
            if reason == REASONS[0]:
                state["grade"] = min(4, state["grade"] + 1)
            elif reason == REASONS[1]:
                allowed = sorted(set(allowed) | {rng.choice(depts)})
                state["departments"] = sorted(codes[d] for d in allowed)
            elif reason == REASONS[2]:
                state["national_code"] = state["national_code"][:-1] + str(rng.randint(0, 9))
            else:
                state["status"] = "disabled" if state["status"] == "active" else "active"
            revisions.append((when, dict(state), reason, rng.choice(("form", "bulk", "import"))))
        techs.append((state["code"], state["national_code"], state["insurance_code"], state["name"],
                      state["category"], state["grade"], *(state[f] for f in FLAGS), state["prerequisites"],
                      state["status"], len(revisions), "", created, when, author))
        links.append(allowed)
        history.append(revisions)
    ids = ctx.bulk(Technology, ("code", "national_code", "insurance_code", "name", "category", "grade", *FLAGS,
                                "prerequisites", "status", "revision", "note", "created_at", "updated_at",
                                "created_by_id"), techs)
    ctx.bulk(TechnologyDepartment, ("technology_id", "department_id"),
             [(tid, d) for tid, allowed in zip(ids, links, strict=True) for d in allowed], ids=False)
    rows = []
    for tid, revisions in zip(ids, history, strict=True):
        for number, (when, state, reason, source) in enumerate(revisions, start=1):
            rows.append((tid, number, when, state, reason, author, source, when, when, author))
    for tid, number, when, state, reason, *_ in sorted(rows, key=lambda r: (r[2], r[0], r[1])):  # audit in time order
        ctx.audit.add(when, ctx.user(author), "technology", tid, "create" if number == 1 else "update",
                      label=f"{state['code']} {state['name']}", changes={"reason": reason, "revision": number})
    ctx.bulk(TechnologyRevision, ("technology_id", "revision", "valid_from", "data", "reason", "changed_by_id",
                                  "source", "created_at", "updated_at", "created_by_id"), rows)
    return {"technologies": len(ids), "technology revisions": len(rows)}
