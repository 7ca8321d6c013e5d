"""Hospital-scale query shapes: each list or KPI filter has an index the planner uses, pages issue a fixed number
of queries whatever the number of rows, and long lists do not count every row on every page.

No timing: the PostgreSQL checks read the plan (EXPLAIN with sequential scans discouraged, as on five years of
data), the others count the statements a request issues.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import distinct, func, select, text

from portal.auth.models import User
from portal.casemgmt import scoping
from portal.casemgmt.kpis import queries as kpi_queries
from portal.casemgmt.models import CareTask, LedgerEntry, Patient
from portal.casemgmt.tasks.queries import TaskFilters, day_counts, day_tasks_query, on_list
from portal.core import audit, listing
from portal.core.timeutil import local_today
from portal.extensions import db
from tests import cm_factories as cm
from tests.factories import make_user
from tests.sqlcount import TRANSACTION_CONTROL, statements

TODAY = local_today()


def plan_of(stmt) -> str:
    """PostgreSQL's plan for a select, with sequential scans priced out as they are on millions of rows."""
    bind = db.session.get_bind()
    compiled = stmt.compile(dialect=bind.dialect, compile_kwargs={"render_postcompile": True})
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    try:
        rows = connection.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all()
    finally:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
    return "\n".join(row[0] for row in rows)


@pytest.fixture
def postgres(session):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the planner's choice of index is PostgreSQL's")


def add_task(patient: Patient, manager: User | None, day: date, **fields) -> CareTask:
    enrolment = patient.active_enrolment
    task = CareTask(due_date=day, first_due_date=day, case_manager_id=manager.id if manager else None,
                    patient_id=patient.id, enrolment_id=enrolment.id, source="plan", task_type="phone_followup",
                    title="出院后电话随访", ward_id=enrolment.ward_id, **fields)
    db.session.add(task)
    db.session.flush()
    return task


def years_of_tasks(tree, *managers: User) -> None:
    """A few thousand tasks over four years for the managers (mostly closed), and fresh planner statistics."""
    ward = cm.make_ward("胸外病区", tree.surgery)
    p = cm.make_patient("张三丰")
    cm.enrol(p, case_manager=managers[0], ward=ward)
    template = add_task(p, managers[0], TODAY)
    ids = "ARRAY[" + ",".join(str(m.id) for m in managers) + "]"
    db.session.execute(text(f"""
        INSERT INTO care_tasks (due_date, first_due_date, window_end, case_manager_id, patient_id, enrolment_id, source,
            occurrence, task_type, title, ward_id, bed, time_slot, special_needs, special_note, outcome_fields, status,
            outcome, outcome_values, note, completed_at, reschedule_count, assigned_by_hand, attempts, created_at,
            updated_at)
        SELECT CAST(:today AS date) - g % 1500, CAST(:today AS date) - g % 1500, CAST(:today AS date) - g % 1500 + 2,
            ({ids})[1 + g % {len(managers)}], t.patient_id, t.enrolment_id,
            CASE WHEN g % 2 = 0 THEN 'pathway' ELSE 'plan' END,
            g, t.task_type, t.title, t.ward_id, '', 'any', t.special_needs, '', t.outcome_fields,
            CASE WHEN g % 50 = 0 THEN 'open' ELSE 'done' END, CASE WHEN g % 50 = 0 THEN NULL ELSE 'reached' END,
            t.outcome_values, '', CASE WHEN g % 50 = 0 THEN NULL
                                       ELSE CAST(:today AS date) - g % 1500 + interval '3 hours' END,
            0, false, 0, now(), now()
        FROM care_tasks t, generate_series(1, 6000) g WHERE t.id = :id"""), {"today": TODAY, "id": template.id})
    db.session.execute(text("ANALYZE care_tasks"))


@pytest.mark.postgres_only
def test_a_managers_day_list_and_the_teams_read_closed_tasks_by_index(postgres, tree):
    """The day's list must not read every closed task of five years to find those finished today."""
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    years_of_tasks(tree, li, cm.make_case_manager("cm_wang", tree.surgery, "王个管"))
    mine = plan_of(day_tasks_query(TaskFilters(day=TODAY, manager_id=li.id), li))
    # One index scan per arm of the list's condition, combined: never the manager's whole history.
    assert "BitmapOr" in mine and "ix_care_tasks_manager_day" in mine
    assert "ix_care_tasks_manager_completed" in mine or "ix_care_tasks_completed_at" in mine
    team = plan_of(select(func.count()).select_from(CareTask).where(on_list(TODAY)))
    assert "ix_care_tasks_completed_at" in team and "ix_care_tasks_status_due" in team
    assert "Seq Scan on care_tasks" not in team


@pytest.mark.postgres_only
def test_patient_visibility_and_the_kpis_read_by_index(postgres, tree):
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    visible = plan_of(scoping.scope_patients(select(func.count(Patient.id)), Patient.id, li))
    assert "pk_care_task_patients" in visible and "care_tasks " not in visible  # the pairs, not the tasks
    month = TODAY.replace(day=1) - timedelta(days=1)
    execution = plan_of(kpi_queries.execution_query(month.replace(day=1), today=TODAY))
    assert "ix_care_tasks_source_window" in execution
    served = plan_of(select(func.count(distinct(LedgerEntry.patient_id)))
                     .where(LedgerEntry.service_date >= month.replace(day=1), LedgerEntry.service_date <= month))
    assert "Index Only Scan using ix_ledger_entries_served" in served


def test_a_day_list_still_shows_tasks_closed_that_day_and_due_that_day(tree):
    """The list's condition was rewritten for the indexes: what it selects is unchanged."""
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    ward = cm.make_ward("胸外病区", tree.surgery)
    p = cm.make_patient("张三丰")
    cm.enrol(p, case_manager=li, ward=ward)
    noon_today = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=4)  # 12:00 Beijing
    add_task(p, li, TODAY - timedelta(days=3), status="done", outcome="reached", completed_at=noon_today)
    add_task(p, li, TODAY, status="done", outcome="reached", completed_at=noon_today - timedelta(days=2))
    add_task(p, li, TODAY - timedelta(days=1), status="open")
    add_task(p, li, TODAY - timedelta(days=5), status="done", outcome="reached",
             completed_at=noon_today - timedelta(days=5))
    add_task(p, li, TODAY, status="cancelled")
    db.session.commit()
    counts = day_counts(TODAY, li.id, li)
    assert (counts.open, counts.done, counts.overdue) == (1, 2, 1)


def test_the_supervisors_overview_issues_the_same_queries_for_one_flagged_task_or_many(client, tree):
    """Flagged tasks load their case manager and who closed them in the list's own query, not one per card."""
    boss = make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="赵组长")
    ward = cm.make_ward("胸外病区", tree.surgery)
    client.login("cm_boss")

    def flag(n: int) -> None:
        for i in range(n):
            manager = cm.make_case_manager(f"cm_{n}_{i}", tree.surgery, f"个管{n}{i}")
            p = cm.make_patient(f"王{n}{i}", id_number=cm.resident_id(), phone=None)
            cm.enrol(p, case_manager=manager, ward=ward)
            add_task(p, manager, TODAY - timedelta(days=1), status="unreached", outcome="not_reached",
                     completed_at=datetime.now(UTC), completed_by_id=manager.id, flagged_at=datetime.now(UTC))
        db.session.commit()

    def overview_queries() -> int:
        db.session.expunge_all()
        with statements() as seen:
            response = client.get("/casemgmt/tasks/overview")
        assert response.status_code == 200
        return len(seen)

    flag(1)
    overview_queries()  # the first page view after signing in fills the caches
    one = overview_queries()
    flag(4)
    overview_queries()
    assert overview_queries() == one
    assert boss.id


def test_a_long_list_is_counted_in_full_once_then_from_the_cache(app, client, tree):
    """The audit log has millions of rows: paging through it must not run count(*) over all of them each time."""
    make_user("auditor1", ["auditor"], tree.surgery)
    for i in range(8):
        audit.record("create", "patient", i, label=f"患者{i}")
    db.session.commit()
    client.login("auditor1")
    app.config["LIST_EXACT_COUNT_LIMIT"] = 3
    try:
        with statements() as first:
            assert client.get("/audit/").status_code == 200
        with statements() as again:
            page = client.get("/audit/")
        assert page.status_code == 200
    finally:
        app.config["LIST_EXACT_COUNT_LIMIT"] = 5000
        listing._counts.clear()

    def full_counts(seen):
        return [s for s in seen if "count(*)" in s and "audit_logs" in s and "LIMIT" not in s.upper()]

    assert len(full_counts(first)) == 1  # the list is longer than the limit: counted once
    assert full_counts(again) == []  # the next page views read the cached total
    assert [s for s in again if "count(*)" in s] == []  # not even the bounded count: the list is known to be long


def test_a_case_manager_sees_every_patient_on_their_tasks_and_no_other(tree):
    """Visibility walks the manager's task patients one index entry per patient: the set is the same as before."""
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.surgery, "王个管")
    ward = cm.make_ward("胸外病区", tree.surgery)
    patients = []
    for i in range(5):
        p = cm.make_patient(f"赵{i}", phone=None)
        cm.enrol(p, case_manager=wang, ward=ward)
        patients.append(p)
    # li has tasks (several each, years apart) for patients 0, 2 and 4 only; wang manages them all.
    for p in (patients[0], patients[2], patients[4]):
        for years in range(3):
            add_task(p, li, TODAY - timedelta(days=365 * years))
    db.session.commit()
    seen = set(db.session.scalars(scoping.scope_patients(select(Patient.id), Patient.id, li)))
    assert seen == {patients[0].id, patients[2].id, patients[4].id}
    assert set(db.session.scalars(scoping.scope_patients(select(Patient.id), Patient.id, wang))) == \
        {p.id for p in patients}
    assert scoping.may_see_patient(patients[2], li) and not scoping.may_see_patient(patients[1], li)


def test_the_approval_todo_page_reads_its_partial_index_in_order(postgres, tree):
    """The to-do page walks ix_approval_tasks_todo in deadline order and stops after one page (no sort)."""
    from portal.approvals import queries as approval_queries

    stmt = approval_queries._task_rows(approval_queries._pending(1), approval_queries.TODO_ORDER).limit(20)
    plan = plan_of(stmt)
    assert "ix_approval_tasks_todo" in plan and "Sort" not in plan, plan


def test_a_short_list_reads_its_page_and_its_total_in_one_statement(app, tree):
    """paginate: the bounded count rides beside the page's rows; a page past the end still shows the last page."""
    for n in range(7):
        make_user(f"pager{n}", [], tree.surgery)
    db.session.commit()
    rows = select(User.id, User.login_name).where(User.login_name.like("pager%")).order_by(User.login_name)
    with app.test_request_context():
        with statements(leave_out=TRANSACTION_CONTROL) as seen:
            page = listing.paginate(rows, 2, 3, scalars=False, count_stmt=select(User.id).where(
                User.login_name.like("pager%")))
        assert len(seen) == 1 and (page.total, page.pages, page.page) == (7, 3, 2)
        assert [row["login_name"] for row in page.items] == ["pager3", "pager4", "pager5"]
        assert list(page.items[0].keys()) == ["id", "login_name"]  # the total is not one of the row's values
        last = listing.paginate(rows, 9, 3, scalars=False)
        assert (last.page, last.total, [row.login_name for row in last.items]) == (3, 7, ["pager6"])
        users = listing.paginate(select(User).where(User.login_name.like("pager%")).order_by(User.id), 1, 5)
        assert users.total == 7 and [u.login_name for u in users.items] == [f"pager{n}" for n in range(5)]
        with statements(leave_out=TRANSACTION_CONTROL) as empty:
            none = listing.paginate(select(User.id).where(User.login_name == "nobody"), 1, 5)
        assert (none.total, none.items, len(empty)) == (0, [], 1)
