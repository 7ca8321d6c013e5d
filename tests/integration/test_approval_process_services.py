"""Process definitions are changed by services (audited), so the admin pages only render and any caller gets
the same rules."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.approvals import services
from portal.approvals.models import ApprovalProcess
from portal.core.audit import AuditLog
from portal.core.service import ServiceError
from portal.extensions import db


def _process(code: str = "t_study_record") -> ApprovalProcess:
    return db.session.scalar(select(ApprovalProcess).where(ApprovalProcess.code == code))


def _last_audit(entity_type: str) -> AuditLog:
    return db.session.scalars(select(AuditLog).where(AuditLog.entity_type == entity_type)
                              .order_by(AuditLog.id.desc())).first()


def test_a_process_change_is_audited_with_before_and_after(session):
    process = _process()
    services.update_process(process, name="  业务学习备案  ", description="", allow_withdraw=False, is_active=True)
    assert process.name == "业务学习备案"
    row = _last_audit("approval_process")
    assert row.entity_id == str(process.id) and row.action == "update"
    assert row.changes["allow_withdraw"]["after"] is False


def test_steps_are_added_checked_and_the_last_one_is_kept(session):
    process = _process()
    with pytest.raises(ServiceError, match="请选择委员会") as refused:
        services.save_step(process, None, name="委员会审议", rule="committee", committee_id=-1)
    assert refused.value.field == "committee_id"
    added = services.save_step(process, None, name="医务科备案", rule="role", role_code="ma_staff",
                               time_limit_hours=24)
    assert [s.name for s in process.steps][-1] == "医务科备案" and added.position == len(process.steps)
    for step in list(process.steps)[:-1]:
        services.delete_step(process, step)
    with pytest.raises(ServiceError, match="至少需要一个审批步骤"):
        services.delete_step(process, process.steps[0])
    assert [(s.name, s.position) for s in process.steps] == [("医务科备案", 1)]


def test_committees_are_named_once(session):
    committee = services.create_committee(" 伦理委员会 ")
    assert committee.name == "伦理委员会" and _last_audit("committee").action == "create"
    with pytest.raises(ServiceError, match="已有同名委员会"):
        services.create_committee("伦理委员会")
    with pytest.raises(ServiceError, match="找不到该登录名"):
        services.change_committee_member(committee, "nobody", remove=False)
