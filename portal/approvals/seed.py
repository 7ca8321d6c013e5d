"""The default approval processes the installed domains declare, and the technology committee."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from portal.core import domains
from portal.extensions import db

from .models import ApprovalProcess, ApprovalStep, Committee

COMMITTEES = {"tech": "医疗技术临床应用管理委员会", "ethics": "医学伦理委员会"}


def ensure_processes(processes: Iterable[domains.Process] | None = None) -> None:
    """Create the committees and the declared processes that are missing; existing definitions are never
    touched (an administrator may have changed them, and a process no domain declares any more stays)."""
    committees = {c.code: c for c in db.session.scalars(select(Committee))}
    for code, name in COMMITTEES.items():
        if code not in committees:
            committees[code] = Committee(code=code, name=name)
            db.session.add(committees[code])
    db.session.flush()
    existing = set(db.session.scalars(select(ApprovalProcess.code)))
    for declared in domains.processes() if processes is None else processes:
        if declared.code in existing:
            continue
        process = ApprovalProcess(code=declared.code, name=declared.name, description=declared.description,
                                  allow_withdraw=declared.allow_withdraw)
        for position, step in enumerate(declared.steps, start=1):
            process.steps.append(ApprovalStep(
                position=position, name=step.name, rule=step.rule, role_code=step.target if step.rule == "role" else "",
                committee=committees[step.target] if step.rule == "committee" else None,
                committee_mode=step.mode or "any", time_limit_hours=step.hours, escalate_after_hours=step.hours))
        db.session.add(process)
        existing.add(declared.code)
    db.session.flush()
