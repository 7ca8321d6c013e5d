"""The monthly KPI dashboard: each figure checked against the rows the test made, the drill-downs and exports.

A month (October 2026) is lived day by day: the task lists are built every morning, tasks are completed
at chosen local times (in the window, after it, not reached, left open), an enrolment is closed (its
open task is cancelled), surveys, events and plans are added. The expected figures are recomputed here
in Python from the rows, never written down as numbers the code could echo.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.auth.models import User
from portal.casemgmt.kpis import queries as kpis
from portal.casemgmt.models import (
    AdverseEvent,
    CareTask,
    Enrolment,
    LedgerEntry,
    Plan,
    PlanItem,
    SatisfactionSurvey,
)
from portal.casemgmt.patients import services as patients
from portal.casemgmt.tasks import services as tasks
from portal.core import months
from portal.core.timeutil import LOCAL_TZ, local_today, to_local
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user

MONTH = date(2026, 10, 1)
PREVIOUS = date(2026, 9, 1)
FIRST_DAY, LAST_DAY = date(2026, 9, 20), date(2026, 10, 31)


@dataclass
class World:
    li: User
    wang: User
    supervisor: User
    issuer: User
    patients: dict


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


def _task(patient, title: str) -> CareTask:
    return db.session.scalar(select(CareTask).where(CareTask.patient_id == patient.id, CareTask.title == title))


def _plan(day: date, late: bool, items: list[tuple]) -> Plan:
    """A plan as the issuer's form leaves it: (patient, is_late) items."""
    submitted = _at(day - timedelta(days=1), 18 if late else 15)
    plan = Plan(plan_date=day, first_submitted_at=submitted, last_submitted_at=submitted, is_late=late)
    db.session.add(plan)
    db.session.flush()
    for number, (patient, item_late) in enumerate(items, start=1):
        db.session.add(PlanItem(plan_id=plan.id, external_id=f"{day:%m%d}-{number}", patient_id=patient.id,
                                task_type="accompany_admission", submitted_at=submitted, is_late=item_late))
    db.session.commit()
    return plan


def _event(kind: str, day: date, patient, manager) -> None:
    db.session.add(AdverseEvent(kind=kind, patient_id=patient.id, occurred_on=day, severity="mild",
                                description="候诊时间过长", case_manager_id=manager.id))
    db.session.commit()


def _survey(patient, month: date, t: int, e: int, a: int) -> None:
    db.session.add(SatisfactionSurvey(patient_id=patient.id, survey_month=month, timeliness=t, effectiveness=e,
                                      attitude=a, comment="月度电话回访"))
    db.session.commit()


def build_month(tree, monkeypatch) -> World:
    """Two case managers, six patients on the default pathway, and October lived one day at a time."""
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.surgery, "王个管")
    cm.cover(ward, li, wang)
    supervisor = make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="周组长")
    issuer = make_user("center", ["plan_issuer"], tree.hospital, name="全程中心")
    cm.make_pathway()  # discharge + 1 (window 2 days), discharge + 7 (window 3 days)
    people = {}
    for key, name, manager, discharge in (("p1", "钱一多", li, date(2026, 10, 5)),
                                          ("p2", "孙二多", li, date(2026, 10, 5)),
                                          ("p3", "吴三多", wang, date(2026, 10, 5)),
                                          ("p4", "郑四多", wang, date(2026, 10, 5)),
                                          ("p5", "冯五多", li, date(2026, 9, 25)),
                                          ("p6", "陈六多", wang, date(2026, 10, 28))):
        patient = cm.make_patient(name)
        cm.enrol(patient, case_manager=manager, ward=ward, start=FIRST_DAY, admission_date=FIRST_DAY,
                 discharge_date=discharge)
        people[key] = patient

    clock = {"now": _at(FIRST_DAY, 8)}
    monkeypatch.setattr(tasks, "utcnow", lambda: clock["now"])

    def complete(key: str, title: str, outcome: str, when: datetime, score: int | None = None) -> None:
        clock["now"] = when
        task = _task(people[key], title)
        user = db.session.get(User, task.case_manager_id)
        tasks.complete_task(task, user, outcome=outcome, score=score, today=to_local(when).date())
        db.session.commit()

    follow_up, reminder = "出院后电话随访", "复诊提醒"
    actions = {
        date(2026, 9, 27): [("p5", follow_up, "reached", 10, 0, None)],
        date(2026, 10, 4): [("p5", reminder, "reached", 9, 0, None)],
        # p3 is not reached three times (PORTAL_CM_MAX_ATTEMPTS): open and carried until the third closes it.
        date(2026, 10, 7): [("p1", follow_up, "reached", 10, 0, 5), ("p3", follow_up, "not_reached", 11, 0, None)],
        date(2026, 10, 8): [("p3", follow_up, "not_reached", 11, 0, None)],
        # 00:30 in Shanghai on the 9th is still the 8th in UTC: the local date decides, so this is late.
        date(2026, 10, 9): [("p2", follow_up, "reached", 0, 30, None), ("p3", follow_up, "not_reached", 11, 0, None)],
        date(2026, 10, 13): [("p2", reminder, "declined", 15, 0, None)],
        # 23:30 on the last day of the window is in time.
        date(2026, 10, 15): [("p1", reminder, "reached", 23, 30, 3)],
    }
    day = FIRST_DAY
    while day <= LAST_DAY:
        if day == date(2026, 10, 20):
            _plan(day, True, [(people["p1"], True), (people["p3"], False)])
        if day in (date(2026, 10, 21), date(2026, 9, 25)):
            _plan(day, day.month == 9, [(people["p2"], day.month == 9)])
        clock["now"] = _at(day, 7)
        tasks.build_daily_tasks(day)
        db.session.commit()
        for key, title, outcome, hour, minute, score in actions.get(day, []):
            complete(key, title, outcome, _at(day, hour, minute), score)
        if day == date(2026, 10, 10):  # p4's overdue follow-up is cancelled with the enrolment
            patients.close_enrolment(people["p4"].active_enrolment, closed_on=day, reason="转院")
            db.session.commit()
        if day == date(2026, 10, 20):
            plan_task = db.session.scalar(select(CareTask).where(CareTask.patient_id == people["p1"].id,
                                                                 CareTask.source == "plan"))
            complete("p1", plan_task.title, "reached", _at(day, 14))
        day += timedelta(days=1)
    complete("p6", follow_up, "reached", _at(date(2026, 11, 1), 9))  # window ended 10-31: late, served in November

    _survey(people["p3"], MONTH, 5, 4, 3)  # mean exactly 4: satisfied
    _survey(people["p2"], MONTH, 4, 4, 3)  # mean 3.67: not
    _survey(people["p5"], PREVIOUS, 5, 5, 5)
    _event("adverse_event", date(2026, 10, 3), people["p1"], li)
    _event("complaint", date(2026, 10, 31), people["p2"], li)
    _event("complaint", date(2026, 9, 30), people["p5"], li)
    _event("complaint", date(2026, 11, 1), people["p3"], wang)
    return World(li, wang, supervisor, issuer, people)


@pytest.fixture
def world(tree, monkeypatch):
    return build_month(tree, monkeypatch)


# --- the figures, recomputed from the rows -----------------------------------------------------------------------

def _end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _state(task: CareTask) -> str:
    if task.status in ("done", "declined") and task.outcome in ("reached", "declined"):
        return "ontime" if to_local(task.completed_at).date() <= task.window_end else "late"
    if task.status == "unreached":  # "not reached" as many times as allowed; a single attempt keeps it open
        return "unreached"
    return "open"


def expected_execution(month: date) -> tuple[int, int, dict]:
    rows = [t for t in db.session.scalars(select(CareTask)) if t.source == "pathway" and t.status != "cancelled"
            and month <= t.window_end <= _end(month)]
    states = {s: sum(1 for t in rows if _state(t) == s) for s in ("ontime", "late", "open", "unreached")}
    return states["ontime"], len(rows), states


def expected_served(month: date) -> set[int]:
    return {e.patient_id for e in db.session.scalars(select(LedgerEntry)) if month <= e.service_date <= _end(month)}


def expected_satisfaction(month: date) -> tuple[int, int]:
    rows = [s for s in db.session.scalars(select(SatisfactionSurvey)) if s.survey_month.replace(day=1) == month]
    return sum(1 for s in rows if (s.timeliness + s.effectiveness + s.attitude) / 3 >= 4), len(rows)


def expected_events(month: date) -> int:
    return sum(1 for e in db.session.scalars(select(AdverseEvent)) if month <= e.occurred_on <= _end(month))


def expected_late_plans(month: date) -> tuple[int, int, int]:
    plans = [p for p in db.session.scalars(select(Plan)) if month <= p.plan_date <= _end(month)]
    late_items = sum(1 for p in plans for i in p.items if i.is_late)
    return sum(1 for p in plans if p.is_late), len(plans), late_items


def test_each_kpi_matches_the_rows_it_counts(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "CASELOAD_NORM", 2)
    result = kpis.month_kpis(MONTH)

    ontime, due, states = expected_execution(MONTH)
    assert all(states.values()), states  # the month has every kind of step, so the rate is not trivial
    assert (result.execution.numerator, result.execution.denominator) == (ontime, due)
    assert [p.count for p in result.execution.parts] == [states[s] for s in kpis.EXECUTION_STATES]
    assert result.execution.met is (ontime / due >= 0.98)
    cancelled = [t for t in db.session.scalars(select(CareTask)) if t.status == "cancelled"]
    assert cancelled and all(t.patient_id == world.patients["p4"].id for t in cancelled)
    assert _state(_task(world.patients["p2"], "出院后电话随访")) == "late"  # 00:30 local, the day after the window
    assert _state(_task(world.patients["p1"], "复诊提醒")) == "ontime"  # 23:30 local, the window's last day

    satisfied, surveys = expected_satisfaction(MONTH)
    assert surveys >= 4 and 0 < satisfied < surveys
    assert (result.satisfaction.numerator, result.satisfaction.denominator) == (satisfied, surveys)

    served = expected_served(MONTH)
    assert world.patients["p6"].id not in served  # served on 1 November
    assert result.served.numerator == len(served)
    events = expected_events(MONTH)
    assert (result.events.numerator, result.events.denominator) == (events, len(served))
    assert result.events.met is (events / len(served) <= 0.01)

    late, plans, late_items = expected_late_plans(MONTH)
    assert (result.late_plans.numerator, result.late_plans.denominator) == (late, plans)
    assert result.late_plans.parts[0].count == late_items and result.late_plans.met is (late == 0)

    active = [e for e in db.session.scalars(select(Enrolment)) if e.status == "active"]
    loads = {m.id: sum(1 for e in active if e.case_manager_id == m.id) for m in (world.li, world.wang)}
    assert (result.workload.numerator, result.workload.denominator) == (len(active), 2)
    over = [uid for uid, load in loads.items() if load > 2]
    assert over == [world.li.id] and result.workload.parts[0].count == len(over)
    assert result.workload.met is (len(active) <= 2 * 2)

    # Last month, for comparison: computed the same way.
    before = result.execution.previous
    assert (before.numerator, before.denominator) == expected_execution(PREVIOUS)[:2]
    assert (result.satisfaction.previous.numerator, result.satisfaction.previous.denominator) == \
        expected_satisfaction(PREVIOUS)
    assert result.served.previous.numerator == len(expected_served(PREVIOUS))
    assert result.late_plans.previous.numerator == expected_late_plans(PREVIOUS)[0]


def test_both_months_are_counted_in_one_statement_with_the_same_figures(world, app):
    """The dashboard's figures for the month and the month before come from one statement (one subquery per
    figure); each equals the figure counted alone (kpi_for, the drill-down pages' header)."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    connection = db.session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        result = kpis.month_kpis(MONTH)
    finally:
        event.remove(connection, "before_cursor_execute", record)
    counting = [s for s in statements if "ledger_entries" in s or "care_tasks" in s or "adverse_events" in s]
    assert len(counting) == 1, statements
    assert all(table in counting[0] for table in ("satisfaction_surveys", "plan_items", "plans"))
    for month, figures in ((MONTH, result), (PREVIOUS, None)):
        for code in kpis.KPI_CODES:
            if code == "workload":
                continue
            shown = getattr(result, code) if figures else getattr(result, code).previous
            alone = kpis.kpi_for(code, month)
            assert (shown.numerator, shown.denominator) == (alone.numerator, alone.denominator), (month, code)
            assert [p.count for p in shown.parts] == [p.count for p in alone.parts], (month, code)
    assert result.workload.parts[1].count == kpis._ledger_counts(MONTH)[1]


def test_drill_down_lists_exactly_the_counted_rows(world):
    for state in kpis.EXECUTION_STATES:
        listed = db.session.scalars(kpis.execution_query(MONTH, state)).all()
        assert {_state(t) for t in listed} <= {state}
        assert {kpis.execution_state(t) for t in listed} <= {state}
        assert len(listed) == expected_execution(MONTH)[2][state]
    surveys = db.session.scalars(kpis.survey_query(MONTH, "1")).all()
    assert len(surveys) == expected_satisfaction(MONTH)[0] and all(s.is_satisfied for s in surveys)
    rows = {r.user_id: r for r in kpis.manager_rows(MONTH)}
    ledger = [e for e in db.session.scalars(select(LedgerEntry)) if MONTH <= e.service_date <= _end(MONTH)]
    for manager in (world.li, world.wang):
        mine = [e for e in ledger if e.case_manager_id == manager.id]
        assert (rows[manager.id].patients, rows[manager.id].services) == (len({e.patient_id for e in mine}), len(mine))


def test_dashboard_shows_every_kpi_with_target_and_last_month(world, client):
    client.login("cm_boss")
    response = client.get("/casemgmt/kpis?month=2026-10")
    assert response.status_code == 200
    page = text_of(response)
    ontime, due, _ = expected_execution(MONTH)
    for words in ("管理路径执行率", "服务对象满意度", "不良事件（含服务投诉）发生率", "服务患者数", "个案管理师工作量",
                  "次日计划逾期下达", "≥ 98%", "≥ 90%", "≤ 1%", "上月（2026-09）", "口径：", "系统建议分"):
        assert words in page, words
    assert f"{ontime} / {due}" in page
    assert "2026年10月" in page and "达标" in page


def test_drill_down_pages_filter_mask_and_export(world, client):
    client.login("cm_boss")
    late = client.get("/casemgmt/kpis/execution?month=2026-10&state=late", follow_redirects=True)
    assert late.status_code == 200
    page = text_of(late)
    assert "孙*多" in page and "孙二多" not in page and "超窗完成" in page
    assert "钱*多" not in page  # p1's steps were in time
    moved = client.get("/casemgmt/kpis/execution?month=2026-10&state=open")
    assert moved.headers["Location"] == "/reports/cm_kpi_execution/rows?month=2026-10&column=tasks&k_state=open"
    partial = client.htmx_get(moved.headers["Location"])
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)
    assert "吴*多" in text_of(partial) and "未完成" in text_of(partial)
    assert ('href="/reports/cm_kpi_execution/rows/export?month=2026-10&amp;column=tasks&amp;k_state=open"'
            in partial.get_data(as_text=True))

    export = client.get("/casemgmt/kpis/execution/export?month=2026-10", follow_redirects=True)
    assert export.status_code == 200
    rows = list(load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    header = rows[2]
    assert header[0] == "患者" and "判定" in header
    states = [r[header.index("判定")] for r in rows[3:]]
    expected = expected_execution(MONTH)[2]
    assert sorted(states) == sorted(kpis.EXECUTION_STATES[s] for s, n in expected.items() for _ in range(n))
    assert all("*" in r[0] for r in rows[3:])

    for url in ("execution?month=2026-10&sort=-completed", "execution?month=2026-10&sort=due&page=9",
                "satisfaction?month=2026-10&sort=-score", "events?month=2026-10&sort=kind",
                "late_plans?month=2026-10&sort=-submitted"):
        assert client.get(f"/casemgmt/kpis/{url}", follow_redirects=True).status_code == 200, url
    for kpi, words in (("satisfaction", "满意度调查明细"), ("events", "候诊时间过长"), ("served", "李个管"),
                       ("late_plans", "2026-10-20")):
        response = client.get(f"/casemgmt/kpis/{kpi}?month=2026-10", follow_redirects=True)
        assert response.status_code == 200 and words in text_of(response), kpi
        exported = client.get(f"/casemgmt/kpis/{kpi}/export?month=2026-10", follow_redirects=True)
        assert exported.status_code == 200 and len(load_workbook(io.BytesIO(exported.data)).active["A"]) >= 4, kpi


def test_workload_flags_case_managers_above_the_norm(world, client, app, monkeypatch):
    monkeypatch.setitem(app.config, "CASELOAD_NORM", 2)
    client.login("cm_boss")
    page = text_of(client.get("/casemgmt/kpis/workload?month=2026-10&over=1", follow_redirects=True))
    assert "李个管" in page and "王个管" not in page and "超过定额 1 名" in page
    rows = list(load_workbook(io.BytesIO(client.get("/casemgmt/kpis/workload/export?month=2026-10",
                                                    follow_redirects=True).data))
                .active.iter_rows(values_only=True))
    by_name = {r[0]: r for r in rows[3:]}
    assert by_name["李个管"][-1] == "是" and by_name["王个管"][-1] == "否"


def test_bad_months_unknown_kpis_and_permissions(world, client):
    client.login("cm_boss")
    for month in ("2026-13", "abc", "2026-001", "1999-12", "2026-10-01"):
        response = client.get(f"/casemgmt/kpis?month={month}")
        assert response.status_code == 400 and ("月份" in text_of(response) or "年份" in text_of(response)), month
        assert client.get(f"/casemgmt/kpis/execution?month={month}").status_code == 400
    future = months.month_text(months.next_month(months.current_month(local_today())))
    response = client.get(f"/casemgmt/kpis?month={future}")
    assert response.status_code == 400 and "未来" in text_of(response)
    assert client.get("/casemgmt/kpis/nothing?month=2026-10").status_code == 404
    assert client.get("/casemgmt/kpis/nothing/export?month=2026-10").status_code == 404
    assert client.get("/casemgmt/kpis/execution?month=2026-10&state=bogus").status_code == 400
    assert client.get("/casemgmt/kpis/execution?month=2026-10&sort=bogus").status_code == 400
    assert client.get("/casemgmt/kpis?month=2026-10").status_code == 200
    client.submit("/logout")
    client.login("cm_li")
    assert client.get("/casemgmt/kpis?month=2026-10").status_code == 403
    assert client.get("/casemgmt/kpis/execution/export?month=2026-10").status_code == 403
    client.submit("/logout")
    response = client.get("/casemgmt/kpis?month=2026-10")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_viewer_without_view_all_sees_only_their_own_rows(world, client, tree):
    from portal.auth import services as auth_services

    # A role an administrator made: the indicators, but not every patient.
    viewer = auth_services.create_role(code="kpi_viewer", name="指标查看", description="", data_scope="all",
                                       permissions=["casemgmt.kpi"])
    user = make_user("kanban", [], tree.hospital, name="看板李")
    user.roles.append(viewer)
    db.session.commit()
    client.login("kanban")
    page = text_of(client.get("/casemgmt/kpis/execution?month=2026-10", follow_redirects=True))
    assert "只列出您负责" in page and "*多" not in page
    assert "管理路径执行率" in text_of(client.get("/casemgmt/kpis?month=2026-10"))


def test_medical_affairs_sees_the_rows_behind_the_figures(world, client, tree):
    make_user("yiwu", ["ma_admin"], tree.hospital, name="医务科李")
    client.login("yiwu")
    page = text_of(client.get("/casemgmt/kpis/execution?month=2026-10", follow_redirects=True))
    assert "只列出您负责" not in page and "*多" in page
