"""The spending report kept per worker (ResultCache) while the budget generation is unchanged.

Two app objects on one committed database stand for two worker processes. Once both have kept the report, an
expenditure added, a project renamed or moved to another department and a line's category changed through one are
on the very next report of the other; a department head is never shown the result kept for medical affairs; a
warm report reads no budget rows.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portal.auth.models import Department, User
from portal.budget.models import BudgetProject
from portal.extensions import db
from tests import factories
from tests.conftest import committed, logged_in, text_of, workers
from tests.integration.test_budget import YEAR, line, make_project, people, spend
from tests.sqlcount import statements

FIVE_YEARS = f"/reports/budget_spending?date_from={YEAR - 4}-01-01&date_to={YEAR}-12-31"  # whole months: the rollup
ONE_MONTH = f"/reports/budget_spending?date_from={YEAR}-03-01&date_to={YEAR}-03-31"  # the expenditures themselves


@pytest.fixture(scope="module")
def pair(tmp_root, redis_server):
    with workers(tmp_root, redis_server, "budgetcache") as (one, two):
        with one.app_context():
            tree = factories.make_tree()
            p = people(tree)
            spend(make_project(tree), p["ma"], "A01", "850.00", "K1", day=date(YEAR, 3, 2))
            db.session.commit()
        yield one, two


def _project() -> BudgetProject:
    return db.session.scalar(select(BudgetProject).where(BudgetProject.code == "ZD-01"))


def _report(client, url: str = FIVE_YEARS) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return text_of(response)


def test_every_write_the_report_reads_is_on_the_next_report_of_another_worker(pair):
    one, two = pair
    reader, head = logged_in(two, "yiwu"), logged_in(two, "head")
    for url in (FIVE_YEARS, ONE_MONTH):
        assert "¥850.00" in _report(reader, url) and "¥850.00" in _report(logged_in(one, "yiwu"), url)

    def spend_more() -> None:
        spend(_project(), db.session.scalar(select(User).where(User.login_name == "yiwu")), "A02", "12.34", "K2",
              day=date(YEAR, 3, 20))

    committed(one, spend_more)
    for url in (FIVE_YEARS, ONE_MONTH):
        assert "¥862.34" in _report(reader, url)

    committed(one, lambda: setattr(_project(), "name", "胸痛中心二期"))
    assert "胸痛中心二期" in _report(reader) and "胸痛中心建设" not in _report(reader)

    training = f"{FIVE_YEARS}&category_filter=training"
    assert "该期间没有项目支出" in _report(reader, training)
    committed(one, lambda: setattr(line(_project(), "A02"), "category", "training"))
    assert "¥12.34" in _report(reader, training)

    assert "¥862.34" in _report(head)  # the cardiology head sees the cardiology project

    def move() -> None:
        _project().department_id = db.session.scalar(select(Department.id).where(Department.name == "普外科"))

    committed(one, move)
    assert "胸痛中心二期" not in _report(head) and "胸痛中心二期" in _report(reader)


def test_a_department_head_never_gets_the_report_kept_for_medical_affairs(pair):
    one, _ = pair
    ma, sec = logged_in(one, "yiwu"), logged_in(one, "sec")
    url = f"/reports/budget_spending?date_from={YEAR - 4}-01-01&date_to={YEAR}-06-30"
    assert "ZD-01" in _report(ma, url)
    assert "ZD-01" not in _report(sec, url)  # the project now belongs to general surgery
    assert "ZD-01" in _report(ma, url)


def test_a_warm_report_reads_no_budget_rows(pair):
    one, _ = pair
    client = logged_in(one, "yiwu")
    _report(client)
    with one.app_context(), statements() as seen:
        assert client.get(FIVE_YEARS).status_code == 200
    assert [s for s in seen if "budget_generation" in s]
    assert not [s for s in seen if "budget_" in s and "budget_generation" not in s]
