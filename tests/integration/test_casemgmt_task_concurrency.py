"""One task completed from two tablets at the same moment, each its own request and connection: one wins."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from portal.casemgmt.models import CareTask, LedgerEntry, Plan, PlanItem
from portal.casemgmt.tasks import services as tasks
from portal.core.timeutil import local_today, utcnow
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of, workers
from tests.factories import make_tree, make_user


def test_two_tablets_completing_one_task_at_once_have_one_winner(tmp_path, redis_server):
    today = local_today()
    with workers(tmp_path, redis_server, "taskrace", 1) as (app,):
        with app.app_context():
            tree = make_tree()
            ward = cm.make_ward("胸外病区", tree.surgery)
            li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
            make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="赵组长")
            patient = cm.make_patient("张三丰")
            cm.enrol(patient, case_manager=li, ward=ward, bed="12床")
            now = utcnow()
            plan = Plan(plan_date=today, first_submitted_at=now, last_submitted_at=now)
            db.session.add(plan)
            db.session.flush()
            db.session.add(PlanItem(plan_id=plan.id, external_id="R1", patient_id=patient.id, ward_id=ward.id,
                                    task_type="accompany_discharge", submitted_at=now))
            tasks.build_daily_tasks(today)
            db.session.commit()
            task_id = db.session.scalar(select(CareTask.id))

        # The case manager's tablet and the supervisor's, both signed in before the race.
        tablets = {"cm_li": app.test_client(), "cm_boss": app.test_client()}
        for login, client in tablets.items():
            client.login(login)
        barrier = threading.Barrier(2)
        answers: dict[str, tuple[int, str]] = {}

        def complete_from(login: str, outcome: str) -> None:
            client = tablets[login]
            barrier.wait()
            response = client.submit(f"/casemgmt/tasks/{task_id}/complete",
                                     {"outcome": outcome, "day": today.isoformat()}, htmx=True)
            answers[login] = (response.status_code, text_of(response))

        threads = [threading.Thread(target=complete_from, args=("cm_li", "reached")),
                   threading.Thread(target=complete_from, args=("cm_boss", "declined"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        statuses = sorted(status for status, _ in answers.values())
        assert statuses == [200, 409], answers
        winner = next(login for login, (status, _) in answers.items() if status == 200)
        loser_text = next(body for status, body in answers.values() if status == 409)
        results = {"cm_li": ("李个管", "reached", "done", "已完成"),
                   "cm_boss": ("赵组长", "declined", "declined", "患者拒绝")}
        winner_name, winner_outcome, state, label = results[winner]
        # The loser's card shows the winner's result in place, with the reason.
        assert f"该任务已由{winner_name}处理（{label}）" in loser_text
        with app.app_context():
            task = db.session.get(CareTask, task_id)
            assert (task.status, task.outcome) == (state, winner_outcome)
            assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1

        # Two tablets recording "not reached" on another task at the same moment: both attempts count.
        with app.app_context():
            task = db.session.get(CareTask, task_id)
            task.status, task.outcome, task.completed_at, task.completed_by_id = "open", None, None, None
            db.session.commit()
        barrier.reset()
        answers.clear()
        threads = [threading.Thread(target=complete_from, args=(login, "not_reached")) for login in tablets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(status for status, _ in answers.values()) == [200, 200], answers
        with app.app_context():
            task = db.session.get(CareTask, task_id)
            assert (task.status, task.attempts) == ("open", 2)
