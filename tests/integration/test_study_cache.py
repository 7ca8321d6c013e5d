"""The study matrix kept per worker (study/matrix/queries.kept_build) while the study generation is unchanged.

Two app objects on one committed database stand for two worker processes. Once both have kept the matrix, a
plan submitted or approved, a session removed, a record written or reviewed and a department renamed through one
are on the very next page of the other; a department head is never shown the matrix kept for medical affairs; a
warm page reads no study rows; a new month builds afresh (the months due change); a kept matrix equals a fresh one.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.auth.models import Department
from portal.core.months import current_month, next_month
from portal.extensions import db
from portal.study.models import StudyPlan, StudyRecord, StudySession
from tests import factories
from tests.conftest import committed, logged_in, workers
from tests.integration.test_study import matrix_table
from tests.sqlcount import statements


@pytest.fixture(scope="module")
def pair(tmp_root, redis_server):
    with workers(tmp_root, redis_server, "studycache") as (one, two):
        with one.app_context():
            tree = factories.make_tree()
            factories.make_user("sc_ma", ["ma_admin", "ma_staff"], tree.hospital, name="医务科缓存")
            factories.make_user("sc_sec", ["dept_secretary"], tree.cardiology, name="心内缓存秘书")
            factories.make_user("sc_head", ["dept_head"], tree.surgery, name="普外缓存主任")
            db.session.commit()
        yield one, two


def _department(name: str) -> Department:
    return db.session.scalar(select(Department).where(Department.name == name))


def _plan(month: date) -> StudyPlan:
    return db.session.scalar(select(StudyPlan).where(StudyPlan.department_id == _department("心内科").id,
                                                     StudyPlan.month == month))


def _row(client, year: int, name: str) -> dict:
    response = client.get(f"/study?year={year}")
    assert response.status_code == 200
    return matrix_table(response.get_data(as_text=True))[0][name]


def _cell(client, month: date, name: str = "心内科") -> str:
    """The text of the department's cell for the month on the matrix page."""
    return _row(client, month.year, name)["cells"][month.month - 1][2]


def test_every_write_the_matrix_reads_is_on_the_next_page_of_another_worker(pair):
    one, two = pair
    month = current_month()
    writer, reader = logged_in(one, "sc_sec"), logged_in(two, "sc_ma")
    ma_one = logged_in(one, "sc_ma")
    assert _cell(reader, month) == _cell(ma_one, month) == "未提交计划"  # both workers keep the matrix

    with one.app_context():
        dept = _department("心内科").id
    base = f"/study/departments/{dept}/{month:%Y-%m}"
    for day in (1, 2):
        answer = writer.submit(f"{base}/sessions", {"day": month.replace(day=day).isoformat(), "topic": f"缓存{day}",
                                                    "speaker": "张主任", "attendees": "", "minutes": "60"})
        assert answer.status_code == 303
    assert _cell(reader, month) == "未提交计划"  # a draft is not yet a plan
    assert writer.submit(f"{base}/submit", {"note": "本月计划"}).status_code == 303
    assert _cell(reader, month) == "计划待审核"

    with one.app_context():
        approval = _plan(month).approval_id
    assert ma_one.submit(f"/approvals/{approval}/act", {"action": "approve", "comment": "同意"}).status_code == 303
    assert _cell(reader, month) == "计划已通过"

    def record(status: str) -> None:
        plan = _plan(month)
        session = db.session.scalar(select(StudySession).where(StudySession.plan_id == plan.id)
                                    .order_by(StudySession.day))
        db.session.add(StudyRecord(session_id=session.id, department_id=plan.department_id, month=month,
                                   held_on=session.day, starts_at=datetime.combine(session.day, datetime.min.time(),
                                                                                   UTC),
                                   minutes=60, topic=session.topic, speaker=session.speaker, status=status,
                                   signin_token=secrets.token_hex(8)))

    committed(one, lambda: record("approved"))
    assert _cell(reader, month) == "记录部分完成"  # one of two sessions held and approved

    def drop_second_session() -> None:
        plan = _plan(month)
        db.session.delete(db.session.scalar(select(StudySession).where(StudySession.plan_id == plan.id)
                                            .order_by(StudySession.day.desc())))

    committed(one, drop_second_session)
    assert _cell(reader, month) == "已完成"

    def return_record() -> None:
        db.session.scalar(select(StudyRecord).where(StudyRecord.month == month)).status = "returned"

    committed(one, return_record)
    assert _cell(reader, month) == "已退回"

    def rename() -> None:
        _department("心内科").name = "心内学科"

    committed(one, rename)
    assert _cell(reader, month, "心内学科") == "已退回"
    committed(one, lambda: setattr(_department("心内学科"), "name", "心内科"))
    assert _cell(reader, month) == _cell(ma_one, month) == "已退回"


def test_a_department_head_never_gets_the_matrix_kept_for_medical_affairs(pair):
    one, _ = pair
    year = current_month().year
    ma, head = logged_in(one, "sc_ma"), logged_in(one, "sc_head")
    for first, second in ((ma, head), (head, ma)):
        first.get(f"/study?year={year}")
        second.get(f"/study?year={year}")
    assert set(matrix_table(ma.get(f"/study?year={year}").get_data(as_text=True))[0]) == {"心内科", "普外科", "骨科"}
    assert set(matrix_table(head.get(f"/study?year={year}").get_data(as_text=True))[0]) == {"普外科"}
    with one.app_context():
        division = _department("南区").id
    south = matrix_table(ma.get(f"/study?year={year}&division={division}").get_data(as_text=True))[0]
    assert set(south) == {"骨科"}


def test_a_warm_matrix_reads_no_study_rows(pair):
    one, _ = pair
    client = logged_in(one, "sc_ma")
    client.get("/study")
    with one.app_context(), statements() as seen:
        assert client.get("/study").status_code == 200
    assert [s for s in seen if "study_generation" in s]
    assert not [s for s in seen if ("study_plans" in s or "departments" in s) and "study_generation" not in s]


def test_a_kept_matrix_equals_a_fresh_one_and_a_new_month_builds_afresh(pair):
    from portal.auth.models import User
    from portal.study.matrix import queries

    one, _ = pair
    month = current_month()
    first, last = date(month.year, 1, 1), date(month.year, 12, 1)
    with one.test_request_context("/study"):
        principal = db.session.scalar(select(User).where(User.login_name == "sc_ma")).principal
        kept = queries.kept_build(principal, first, last, today=month)
        assert queries.kept_build(principal, first, last, today=month) is kept
        assert kept == queries.build(principal, first, last, today=month)
        later = next_month(month) + timedelta(days=3)
        moved = queries.kept_build(principal, first, last, today=later)
        assert moved is not kept and moved.upto == next_month(month)
        assert moved == queries.build(principal, first, last, today=later)
