"""Supervision findings over the whole history, each answered one going through the rectification approval:
approval instances in every state, with their tasks, timelines and audit records."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, select

from portal.approvals.models import ApprovalAction, ApprovalInstance, ApprovalProcess, ApprovalTask
from portal.supervision.models import Finding

from .kit import Context

# instance state -> (task state, finding state, last action)
STATES = {"pending": ("pending", "answered", None), "approved": ("approved", "accepted", "approve"),
          "rejected": ("rejected", "rework", "reject"), "returned": ("returned", "rework", "return"),
          "withdrawn": ("cancelled", "issued", "withdraw")}
CYCLE = ("approved",) * 6 + ("rejected", "returned", "withdrawn") + ("pending",) * 2


def generate(ctx: Context) -> dict:
    s = ctx.scale
    process = ctx.connection.execute(select(ApprovalProcess.id).where(ApprovalProcess.code == "rectification")).scalar()
    reviewer = ctx.users["bma"]
    depts, heads = ctx.ids["departments"], ctx.ids["dept_heads"]
    start = ctx.day(s.days)
    findings, meta = [], []
    for n in range(s.approvals + s.approvals // 10):
        d = n % len(depts)
        issued = ctx.at(start + timedelta(days=n * s.days // (s.approvals + s.approvals // 10)), 10)
        answered = n < s.approvals
        state = CYCLE[n % len(CYCLE)] if answered else None
        if answered and issued.date() > ctx.day(30) and state == "approved":
            state = "pending"
        finding_state = STATES[state][1] if state else "issued"
        findings.append((depts[d], f"督导问题{n:06d}：病历书写不规范", "抽查发现病程记录不及时、签名不全。",
                         issued.date() + timedelta(days=30), finding_state,
                         "已组织科室学习并整改。" if answered else "", issued + timedelta(days=5) if answered else None,
                         issued + timedelta(days=8) if state == "approved" else None, issued, issued))
        meta.append((state, heads[d], depts[d], issued))
    finding_ids = ctx.bulk(Finding, ("department_id", "title", "description", "deadline", "status", "rectification",
                                     "answered_at", "closed_at", "created_at", "updated_at"), findings)
    instances, pending_meta = [], []
    for fid, (state, head, dept, issued) in zip(finding_ids, meta, strict=True):
        ctx.audit.add(issued, ctx.user(reviewer), "supervision_finding", fid, "create", label=f"督导问题{fid}")
        if state is None:
            continue
        submitted = issued + timedelta(days=5)
        finished = submitted + timedelta(days=3) if state != "pending" else None
        instances.append((process, "supervision_finding", fid, f"整改：督导问题{fid}", head, dept, state, 1,
                          submitted, finished, submitted, finished or submitted))
        pending_meta.append((fid, state, head, submitted, finished))
    instance_ids = ctx.bulk(ApprovalInstance, ("process_id", "entity_type", "entity_id", "title", "applicant_id",
                                               "department_id", "status", "step_position", "submitted_at",
                                               "finished_at", "created_at", "updated_at"), instances)
    tasks, actions = [], []
    for iid, (fid, state, head, submitted, finished) in zip(instance_ids, pending_meta, strict=True):
        task_state, _, last = STATES[state]
        tasks.append((iid, 1, "医务科评价", reviewer, task_state, submitted, submitted + timedelta(hours=120),
                      finished if last and last != "withdraw" else None, "同意" if last == "approve" else ""))
        actions.append((iid, head, "submit", "", "已整改", submitted))
        ctx.audit.add(submitted, ctx.user(head), "approval_instance", iid, "submit", label=f"整改：督导问题{fid}")
        if last:
            actor = head if last == "withdraw" else reviewer
            actions.append((iid, actor, last, "医务科评价", "", finished))
            ctx.audit.add(finished, ctx.user(actor), "approval_instance", iid,
                          {"approve": "approve", "reject": "reject", "return": "update", "withdraw": "cancel"}[last],
                          label=f"整改：督导问题{fid}")
    ctx.bulk(ApprovalTask, ("instance_id", "step_position", "step_name", "assignee_id", "status", "created_at",
                            "due_at", "acted_at", "comment"), tasks)
    ctx.bulk(ApprovalAction, ("instance_id", "actor_id", "action", "step_name", "comment", "created_at"), actions)
    if instance_ids:
        table = Finding.__table__
        stmt = table.update().where(table.c.id == bindparam("fid")).values(approval_id=bindparam("iid"))
        ctx.connection.execute(stmt,
                               [{"fid": m[0], "iid": iid} for iid, m in zip(instance_ids, pending_meta, strict=True)])
    by_state = {state: sum(1 for m in pending_meta if m[1] == state) for state in STATES}
    return {"findings": len(finding_ids), **{f"approvals {k}": v for k, v in by_state.items()}}
