"""Two approvals of the same task at the same moment, on two connections: exactly one wins."""

from __future__ import annotations

import threading

from sqlalchemy import select

from portal.approvals import services
from portal.approvals.models import ApprovalAction, ApprovalInstance, ApprovalTask
from portal.auth.models import User
from portal.core.service import Conflict
from portal.extensions import db, sqlite_begin
from tests import approval_subject  # noqa: F401  (registers the test subject)
from tests.conftest import workers
from tests.factories import make_staff, make_tree, make_user


def test_concurrent_approvals_of_one_task_have_one_winner(tmp_path, redis_server):
    with workers(tmp_path, redis_server, "race", 1) as (app,):
        with app.app_context():
            tree = make_tree()
            applicant = make_user("doc", ["clinician"], tree.cardiology)
            head = make_user("head", ["dept_head"], tree.cardiology)
            subject = make_staff("待审人员", tree.cardiology)
            instance = services.submit("t_study_record", entity_type="staff_review", entity_id=subject.id,
                                       title="并发测试", applicant=db.session.get(User, applicant.id),
                                       department_id=tree.cardiology.id)
            db.session.commit()
            task_id = db.session.scalar(select(ApprovalTask.id).where(ApprovalTask.instance_id == instance.id))
            instance_id, head_id = instance.id, head.id

        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def approve_from_another_device():
            sqlite_begin.set("BEGIN IMMEDIATE")  # as for any POST request
            barrier.wait()
            with app.app_context():
                actor = db.session.get(User, head_id)
                try:
                    services.act(task_id, actor, "approve", "同意")
                    db.session.commit()
                    outcomes.append("won")
                except Conflict as error:
                    db.session.rollback()
                    outcomes.append(error.message)

        threads = [threading.Thread(target=approve_from_another_device) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(outcomes) == 2 and outcomes.count("won") == 1
        loser = next(o for o in outcomes if o != "won")
        assert "已通过" in loser and "无需再次处理" in loser
        with app.app_context():
            assert db.session.get(ApprovalInstance, instance_id).status == "approved"
            approvals = db.session.scalars(select(ApprovalAction).where(
                ApprovalAction.instance_id == instance_id, ApprovalAction.action == "approve")).all()
            assert len(approvals) == 1
