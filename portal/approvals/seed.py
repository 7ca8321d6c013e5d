"""Process definitions for each sign-off the requirements name, and the technology committee."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db

from .models import ApprovalProcess, ApprovalStep, Committee

COMMITTEES = {"tech": "医疗技术临床应用管理委员会"}

# code: (name, description, allow withdraw, [(step name, rule, role code / committee code, mode, hours)])
PROCESSES = {
    "qualification": ("资质审核", "医师资质材料审核", True,
                      [("科主任审核", "dept_head", "", "", 48), ("医务科审核", "role", "ma_staff", "", 72)]),
    "privilege": ("手术/技术授权", "医师手术分级与技术授权", True,
                  [("科主任审核", "dept_head", "", "", 48), ("医务科审核", "role", "ma_staff", "", 72),
                   ("委员会审议", "committee", "tech", "all", 168)]),
    "study_record": ("业务学习记录", "科室业务学习记录审核", True, [("科主任审核", "dept_head", "", "", 72)]),
    "project_submission": ("医务项目申报", "医务项目申报审批", True,
                           [("科主任审核", "dept_head", "", "", 48), ("医务科审批", "role", "ma_admin", "", 72)]),
    "budget_change": ("项目预算调整", "项目预算调整审批", False,
                      [("科主任审核", "dept_head", "", "", 48), ("医务科审批", "role", "ma_admin", "", 72)]),
    "rectification": ("整改评价", "督导问题整改的评价", False, [("医务科评价", "role", "ma_staff", "", 120)]),
}


def ensure_processes() -> None:
    """Create the committees and processes that are missing; existing definitions are never touched."""
    committees = {c.code: c for c in db.session.scalars(select(Committee))}
    for code, name in COMMITTEES.items():
        if code not in committees:
            committees[code] = Committee(code=code, name=name)
            db.session.add(committees[code])
    db.session.flush()
    existing = set(db.session.scalars(select(ApprovalProcess.code)))
    for code, (name, description, allow_withdraw, steps) in PROCESSES.items():
        if code in existing:
            continue
        process = ApprovalProcess(code=code, name=name, description=description, allow_withdraw=allow_withdraw)
        for position, (step_name, rule, target, mode, hours) in enumerate(steps, start=1):
            process.steps.append(ApprovalStep(
                position=position, name=step_name, rule=rule, role_code=target if rule == "role" else "",
                committee=committees[target] if rule == "committee" else None, committee_mode=mode or "any",
                time_limit_hours=hours, escalate_after_hours=hours))
        db.session.add(process)
    db.session.flush()
