"""Expenditures crossing the same threshold at the same moment, on two connections: one warning, told once."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from portal.auth.models import User
from portal.budget.expenditures import services as spending
from portal.budget.models import BudgetLine, BudgetProject, BudgetWarning, Expenditure
from portal.budget.projects import services as projects
from portal.core.timeutil import local_today
from portal.extensions import db, sqlite_begin
from portal.notify.models import Notification
from tests.conftest import workers
from tests.factories import make_tree, make_user


def test_concurrent_expenditures_crossing_a_threshold_notify_once(tmp_path, redis_server):
    with workers(tmp_path, redis_server, "budget_race", 1) as (app,):
        year = local_today().year
        with app.app_context():
            tree = make_tree()
            ma = make_user("yiwu", ["ma_admin"], tree.hospital)
            make_user("head", ["dept_head"], tree.cardiology)
            project = projects.create_project(
                code="ZD-R", name="并发项目", department_id=tree.cardiology.id, start_date=date(year, 1, 1),
                end_date=date(year, 12, 31), lines=f"B01 | 培训 | 培训与会议 | {year} | 100.00")
            line_id = db.session.scalar(select(BudgetLine.id).where(BudgetLine.project_id == project.id))
            spending.add_expenditure(project, db.session.get(User, ma.id), line_id=line_id,
                                     spent_on=date(year, 2, 1), amount=Decimal("70.00"), description="先期",
                                     voucher_no="C0")
            db.session.commit()
            project_id, user_id = project.id, ma.id

        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def spend(voucher: str):
            sqlite_begin.set("BEGIN IMMEDIATE")  # as for any POST request
            barrier.wait()
            with app.app_context():
                try:
                    spending.add_expenditure(db.session.get(BudgetProject, project_id),
                                             db.session.get(User, user_id), line_id=line_id,
                                             spent_on=date(year, 3, 1), amount=Decimal("15.00"),
                                             description="并发", voucher_no=voucher)
                    db.session.commit()
                except BaseException as error:
                    db.session.rollback()
                    errors.append(error)

        threads = [threading.Thread(target=spend, args=(f"C{n}",)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        with app.app_context():
            assert db.session.scalar(select(func.sum(Expenditure.amount))) == Decimal("100.00")
            keys = db.session.scalars(select(BudgetWarning.key).order_by(BudgetWarning.key)).all()
            assert keys == [f"p{project_id}:l{line_id}:100", f"p{project_id}:l{line_id}:80",
                            f"p{project_id}:total:100", f"p{project_id}:total:80"]
            # two recipients (medical affairs, the head) x four crossings, each told once
            assert db.session.scalar(select(func.count()).select_from(Notification)
                                     .where(Notification.category == "budget")) == 8
