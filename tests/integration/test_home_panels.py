"""The home page (工作台): each role's panels, each panel's own permission-checked partial, counts that link
to their rows, and a failing panel that shows a small error box while the others render."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select, text

from portal.approvals import services as approvals
from portal.auth.models import User
from portal.casemgmt.models import CareTask
from portal.casemgmt.tasks import services as tasks
from portal.core import panels, timeutil
from portal.core.permissions import SIGNED_IN
from portal.core.timeutil import LOCAL_TZ, local_today
from portal.extensions import db
from portal.notify.services import notify
from portal.supervision.models import Finding
from tests import approval_subject  # noqa: F401  (registers the staff_review subject)
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_staff, make_user
from tests.sqlcount import TRANSACTION_CONTROL, statements

TODAY = local_today()
YESTERDAY = TODAY - timedelta(days=1)
NOON = datetime.combine(TODAY, time(12), LOCAL_TZ).astimezone(UTC)

EVERYONE = ["approvals.todo", "notify.unread"]
KPI_PANELS = ["casemgmt.kpis", "casemgmt.execution"]
# Medical affairs' panels, in the order their declarations give.
MEDICAL_AFFAIRS = ["credentials.privilege_alerts", "credentials.expiring", "credentials.privileges_expiring",
                   "projects.reviews", "credentials.privileges_pending", "catalogue.filings",
                   "credentials.my_applications", "study.status", "catalogue.changes", "catalogue.newtech_reports",
                   "budget.execution"]
# Role -> exactly the panels its seeded permissions allow, in desktop order.
EXPECTED = {
    "clinician": [*EVERYONE, "credentials.my_applications", "catalogue.newtech_reports"],
    "sysadmin": EVERYONE,
    "auditor": EVERYONE,
    "committee": EVERYONE,
    "dept_head": [*EVERYONE, "supervision.deadlines", "credentials.privilege_alerts", "credentials.expiring",
                  "projects.department_tasks", "credentials.privileges_expiring", "credentials.privileges_pending",
                  "catalogue.filings", "credentials.my_applications", "study.status", "catalogue.newtech_reports",
                  "budget.execution"],
    "dept_secretary": [*EVERYONE, "supervision.deadlines", "credentials.privilege_alerts", "credentials.expiring",
                       "projects.department_tasks", "credentials.privileges_expiring", "credentials.privileges_pending",
                       "study.status", "budget.execution"],
    "ma_staff": [*EVERYONE, "supervision.deadlines", *MEDICAL_AFFAIRS],
    "ma_admin": [*EVERYONE, "supervision.deadlines", *MEDICAL_AFFAIRS, *KPI_PANELS],
    "case_manager": ["casemgmt.my_day", *EVERYONE, "casemgmt.events"],
    "cm_supervisor": [*EVERYONE, "casemgmt.team_day", "casemgmt.events", *KPI_PANELS],
    "plan_issuer": [*EVERYONE, *KPI_PANELS],
}


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    monkeypatch.setattr(timeutil, "_now", lambda: NOON)


def shown_panels(response) -> list[str]:
    return re.findall(r'data-panel="([^"]+)"', response.get_data(as_text=True))


def figures(response) -> dict[str, tuple[str, str]]:
    """Each figure of a panel partial: label -> (number, link)."""
    html = response.get_data(as_text=True)
    found = re.findall(r'<a href="([^"]*)"><span class="figure-value">([^<]*)</span>'
                       r'<span class="figure-label">([^<]*)</span>', html)
    return {label: (value, href.replace("&amp;", "&")) for href, value, label in found}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_sees_exactly_the_panels_its_permissions_allow(client, tree, role):
    make_user("someone", [role], tree.cardiology)
    client.login("someone")
    home = client.get("/")
    assert home.status_code == 200
    assert shown_panels(home) == EXPECTED[role]
    for code in EXPECTED[role]:  # each loads on its own, as htmx asks for it
        assert f'hx-get="/panels/{code}"' in home.get_data(as_text=True)
        part = client.htmx_get(f"/panels/{code}")
        assert part.status_code == 200, (code, text_of(part)[:300])
        assert "<html" not in part.get_data(as_text=True) and "暂时无法显示" not in text_of(part)


def test_the_home_page_runs_no_panel_and_uses_no_inline_script(client, tree, monkeypatch):
    calls = []
    monkeypatch.setitem(panels.REGISTRY, "test.spy", panels.Panel(
        "test.spy", "探针", SIGNED_IN, "count", lambda user: calls.append(user) or panels.PanelContent()))
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    html = client.get("/").get_data(as_text=True)
    assert calls == []  # the page only lays out skeletons; each panel is its own request
    skeletons = re.findall(r'class="panel-body" hx-get="[^"]+" hx-trigger="load', html)
    assert len(skeletons) == len(EXPECTED["clinician"]) + 1
    assert "正在加载" in html
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html)  # no inline script (CSP script-src 'self')
    assert "hx-on" not in html and " onclick=" not in html


def test_panel_urls_are_permission_checked(client, tree):
    make_user("cm_li", ["case_manager"], tree.surgery)
    make_user("boss", ["cm_supervisor"], tree.surgery)
    client.login("cm_li")
    assert client.htmx_get("/panels/casemgmt.kpis").status_code == 403
    assert client.htmx_get("/panels/casemgmt.team_day").status_code == 403
    assert client.htmx_get("/panels/supervision.deadlines").status_code == 403
    assert client.htmx_get("/panels/no.such").status_code == 404
    assert client.htmx_get("/panels/casemgmt.my_day").status_code == 200
    client.submit("/logout")
    client.login("boss")  # a supervisor sees the team's day, not a list of their own
    assert client.htmx_get("/panels/casemgmt.my_day").status_code == 403
    assert client.htmx_get("/panels/casemgmt.team_day").status_code == 200


def test_anonymous_goes_to_login(client, tree):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    response = client.get("/panels/approvals.todo")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/panels/")
    assert client.htmx_get("/panels/approvals.todo").status_code == 401


def test_a_failing_panel_shows_a_small_chinese_error_while_the_others_render(client, tree, monkeypatch):
    def broken(user):
        db.session.execute(text("SELECT * FROM no_such_table"))  # a real database error, mid-transaction

    monkeypatch.setitem(panels.REGISTRY, "test.broken", panels.Panel(
        "test.broken", "坏掉的面板", SIGNED_IN, "count", broken, order=1))
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    home = client.get("/")
    assert home.status_code == 200 and shown_panels(home)[0] == "test.broken"
    failed = client.htmx_get("/panels/test.broken")
    assert failed.status_code == 200  # swapped in place by htmx, in the panel's own card
    page = text_of(failed)
    assert "“坏掉的面板”暂时无法显示，其他内容不受影响" in page and "重新加载" in page
    assert "Traceback" not in page and "no_such_table" not in page and "<html" not in failed.get_data(as_text=True)
    for code in EVERYONE:
        part = client.htmx_get(f"/panels/{code}")
        assert part.status_code == 200 and "暂时无法显示" not in text_of(part)
    assert client.get("/").status_code == 200


def test_todo_and_unread_counts_link_to_their_lists(client, tree):
    applicant = make_user("doc", ["clinician"], tree.cardiology_ward, name="刘医生")
    head = make_user("head", ["dept_head"], tree.cardiology, name="张主任")
    subject = make_staff("待审人员", tree.cardiology)
    approvals.submit("t_qualification", entity_type="staff_review", entity_id=subject.id, title="刘医生资质审核",
                     applicant=db.session.get(User, applicant.id), department_id=tree.cardiology_ward.id,
                     comment="请审核")
    notify([head.id], "warning", "督导问题待整改：测试", push=False)
    db.session.commit()
    client.login("head")
    todo = client.htmx_get("/panels/approvals.todo")
    assert figures(todo)["待审批"] == ("1", "/approvals/todo")
    assert "刘医生资质审核" in text_of(todo)
    assert "刘医生资质审核" in text_of(client.get("/approvals/todo"))
    unread = client.htmx_get("/panels/notify.unread")
    number, link = figures(unread)["未读"]
    assert link == "/notifications?unread=1"
    assert int(number) == len(re.findall(r'class="note-link', client.get(link).get_data(as_text=True))) >= 2
    client.submit("/logout")
    client.login("doc")  # nothing waits for the applicant: the empty state says what happens next
    empty = client.htmx_get("/panels/approvals.todo")
    assert figures(empty)["待审批"][0] == "0" and "没有待您审批的事项" in text_of(empty)


def test_the_todo_and_unread_panels_read_their_figure_and_rows_in_one_statement(client, app, tree, monkeypatch):
    """The two panels everyone sees answer with one statement beyond the request's own (the count beside the
    rows), with the same figure, rows and "more" link as their lists, whether the list is empty or longer than
    the panel shows."""
    applicant = make_user("doc", ["clinician"], tree.cardiology_ward, name="刘医生")
    make_user("head", ["dept_head"], tree.cardiology, name="张主任")
    for n in range(5):
        subject = make_staff(f"待审人员{n}", tree.cardiology)
        approvals.submit("t_qualification", entity_type="staff_review", entity_id=subject.id, title=f"资质审核{n}",
                         applicant=db.session.get(User, applicant.id), department_id=tree.cardiology_ward.id,
                         comment="请审核")
    db.session.commit()
    monkeypatch.setitem(panels.REGISTRY, "test.idle", panels.Panel(
        "test.idle", "空", SIGNED_IN, "count", lambda user: panels.PanelContent()))
    def panel(code: str):
        client.htmx_get(f"/panels/{code}")  # a first request may reload the signed-in user
        with statements(app.extensions["db.engine"], leave_out=TRANSACTION_CONTROL) as seen:
            response = client.htmx_get(f"/panels/{code}")
        assert response.status_code == 200
        return response, len(seen)

    for login, pending in (("head", 5), ("doc", 0)):
        client.login(login)
        baseline = panel("test.idle")[1]
        todo, used = panel("approvals.todo")
        assert used == baseline + 1
        assert figures(todo)["待审批"] == (str(pending), "/approvals/todo")
        html = todo.get_data(as_text=True)
        assert len(re.findall(r'href="/approvals/\d+"', html)) == min(pending, 3)
        assert ("全部 5 项待审批" in html) == (pending == 5)
        assert ("没有待您审批的事项" in text_of(todo)) == (pending == 0)
        unread, used = panel("notify.unread")
        assert used == baseline + 1
        listed = client.get("/notifications?unread=1").get_data(as_text=True).count('class="note-link')
        number = int(figures(unread)["未读"][0])
        assert number == listed and (number >= 5) == (login == "head")  # one notification per request to decide
        assert (f"全部 {number} 条未读" in text_of(unread)) == (number > 3)
        assert ("没有未读通知" in text_of(unread)) == (number == 0)
        client.submit("/logout")


def issue_finding(client, department_id: int, title: str) -> int:
    response = client.submit("/supervision/new", {
        "department_id": department_id, "title": title, "description": "抽查发现",
        "deadline": (TODAY + timedelta(days=3)).isoformat()})
    assert response.status_code == 303, text_of(response)[-300:]
    return db.session.scalar(select(Finding.id).order_by(Finding.id.desc()))


def test_overdue_findings_are_counted_in_the_users_scope_and_link_to_the_filtered_list(client, tree):
    make_user("yiwu", ["ma_admin", "ma_staff"], tree.hospital)
    make_user("head", ["dept_head"], tree.cardiology)
    make_user("ohead", ["dept_head"], tree.surgery)
    client.login("yiwu")
    late = issue_finding(client, tree.cardiology.id, "病历书写不规范")
    issue_finding(client, tree.cardiology.id, "交接班记录缺失")
    issue_finding(client, tree.surgery.id, "手术安全核查不全")
    finding = db.session.get(Finding, late)
    finding.deadline = YESTERDAY
    db.session.commit()

    everyone = figures(client.htmx_get("/panels/supervision.deadlines"))
    assert everyone["整改已超期"] == ("1", "/supervision?overdue=1") and everyone["待整改"][0] == "3"
    client.submit("/logout")
    client.login("head")
    part = client.htmx_get("/panels/supervision.deadlines")
    shown = figures(part)
    assert shown["整改已超期"] == ("1", "/supervision?overdue=1")
    assert shown["待整改"] == ("2", "/supervision?status=issued")
    page = text_of(part)
    assert "已超期" in page and "即将到期" in page and "手术安全核查不全" not in page
    listed = text_of(client.get("/supervision?overdue=1"))
    assert "病历书写不规范" in listed and "交接班记录缺失" not in listed
    client.submit("/logout")
    client.login("ohead")
    assert figures(client.htmx_get("/panels/supervision.deadlines"))["整改已超期"][0] == "0"


@pytest.fixture
def cm_day(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.surgery, "王个管")
    make_user("boss", ["cm_supervisor"], tree.surgery, name="赵组长")
    cm.cover(ward, li, wang)
    people = []
    for name, manager, bed in (("张三丰", li, "12床"), ("钱一", li, "3床"), ("吴三", li, "5床"), ("孙二", wang, "7床")):
        person = cm.make_patient(name)
        cm.enrol(person, case_manager=manager, ward=ward, bed=bed)
        people.append(person)
    zhang, qian, wu, sun = people
    cm.make_plan(YESTERDAY, {"patient_id": wu.id, "ward_id": ward.id, "bed": "5床", "time_slot": "afternoon"})
    cm.make_plan(TODAY, *({"patient_id": p.id, "ward_id": ward.id, "bed": "1床", "time_slot": "morning"}
                          for p in (zhang, qian, sun)))
    tasks.build_daily_tasks(YESTERDAY)
    tasks.build_daily_tasks(TODAY)
    db.session.commit()
    return {p.name: db.session.scalar(select(CareTask.id).where(CareTask.patient_id == p.id)) for p in people}


def cards(response) -> int:
    return response.get_data(as_text=True).count('data-testid="task-card"')


def test_a_case_managers_day_is_counted_and_each_number_opens_those_tasks(client, cm_day):
    client.login("cm_li")
    done = client.submit(f"/casemgmt/tasks/{cm_day['张三丰']}/complete",
                         {"day": TODAY.isoformat(), "outcome": "reached"}, htmx=True)
    assert done.status_code == 200, text_of(done)[:300]
    home = client.get("/")  # the start page is the home page, today's tasks first
    assert home.status_code == 200 and shown_panels(home)[0] == "casemgmt.my_day"
    part = client.htmx_get("/panels/casemgmt.my_day")
    shown = figures(part)
    assert shown["待完成"] == ("2", "/casemgmt/tasks?status=open")  # 钱一 today, 吴三 carried over
    assert shown["逾期未完成"] == ("1", "/casemgmt/tasks?status=open#group-overdue")
    assert shown["今日已完成"] == ("1", "/casemgmt/tasks?status=done")
    assert cards(client.get("/casemgmt/tasks?status=open")) == 2
    assert cards(client.get("/casemgmt/tasks?status=done")) == 1
    assert 'id="group-overdue"' in client.get("/casemgmt/tasks?status=open").get_data(as_text=True)
    assert 'href="/casemgmt/tasks"' in part.get_data(as_text=True) and "打开今日任务清单" in text_of(part)


def test_the_supervisor_sees_the_teams_day_and_the_months_kpis_with_drill_downs(client, cm_day):
    client.login("boss")
    team = figures(client.htmx_get("/panels/casemgmt.team_day"))
    assert team["待完成"] == ("4", "/casemgmt/tasks/overview")  # 3 today + 1 carried over, nobody done yet
    assert team["逾期未完成"][0] == "1" and team["未分派"][0] == "0"
    month = f"{TODAY:%Y-%m}"
    kpi = figures(client.htmx_get("/panels/casemgmt.kpis"))
    rows = "/reports/cm_kpi_{}/rows?month=" + month + "&column={}"
    assert kpi["管理路径执行率"][1] == rows.format("execution", "tasks")
    assert kpi["未完成步骤"][1] == rows.format("execution", "tasks") + "&k_state=open"
    assert kpi["不满意"][1] == rows.format("satisfaction", "surveys") + "&k_satisfied=0"
    for _label, (_number, link) in kpi.items():
        assert client.get(link).status_code == 200
    chart = client.htmx_get("/panels/casemgmt.execution")
    assert chart.status_code == 200 and "本月还没有到期的路径步骤" in text_of(chart)


def test_open_events_are_counted_for_their_owner(client, cm_day):
    client.login("cm_li")
    client.htmx_get("/panels/casemgmt.events")
    with statements() as seen:
        empty = client.htmx_get("/panels/casemgmt.events")  # nothing unclosed: the counts alone, no list query
    assert len([s for s in seen if "FROM adverse_events" in s]) == 1, seen
    assert figures(empty)["待处理"][0] == "0" and "没有未关闭的不良事件或投诉" in text_of(empty)
    created = client.submit("/casemgmt/events/new", {"kind": "complaint", "occurred_on": TODAY.isoformat(),
                                                     "severity": "severe", "description": "等候时间过长"})
    assert created.status_code in (200, 303), text_of(created)[-300:]
    part = client.htmx_get("/panels/casemgmt.events")
    assert figures(part)["待处理"] == ("1", "/casemgmt/events?status=open")
    assert "投诉" in text_of(part) and "重度" in text_of(part)
    client.submit("/logout")
    client.login("cm_wang")
    assert figures(client.htmx_get("/panels/casemgmt.events"))["待处理"][0] == "0"


def test_a_chart_panel_draws_bars_in_html_each_linking_to_its_rows(client, tree, monkeypatch):
    def bars(user):
        return panels.PanelContent(bars=[panels.Bar("按时完成", 8, "/casemgmt/kpis/execution?state=ontime", "ok"),
                                         panels.Bar("未完成", 2, "/casemgmt/kpis/execution?state=open", "bad")])

    monkeypatch.setitem(panels.REGISTRY, "test.chart", panels.Panel("test.chart", "执行情况", SIGNED_IN, "chart", bars))
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    html = client.htmx_get("/panels/test.chart").get_data(as_text=True)
    assert '<progress value="8" max="8"' in html and '<progress value="2" max="8"' in html
    assert '<th scope="row">按时完成</th>' in html  # the numbers stay readable as a table (print, screen readers)
    assert '<a href="/casemgmt/kpis/execution?state=open">2</a>' in html
    assert "<script" not in html


def test_the_registry_refuses_unclear_declarations():
    def build(user):
        return panels.PanelContent()

    with pytest.raises(ValueError, match="twice"):
        panels.register(panels.Panel("approvals.todo", "重复", SIGNED_IN, "count", build))
    with pytest.raises(ValueError, match="kind"):
        panels.register(panels.Panel("test.kind", "种类", SIGNED_IN, "pie", build))
    with pytest.raises(ValueError, match="phone_priority"):
        panels.register(panels.Panel("test.phone", "手机", SIGNED_IN, "count", build, phone_priority=0))
    assert "test.kind" not in panels.REGISTRY and "test.phone" not in panels.REGISTRY


def test_each_panel_costs_a_few_queries(client, app, tree, cm_day, monkeypatch):
    monkeypatch.setitem(panels.REGISTRY, "test.idle", panels.Panel(
        "test.idle", "空", SIGNED_IN, "count", lambda user: panels.PanelContent()))
    make_user("both", ["ma_admin", "cm_supervisor"], tree.hospital)
    client.login("both")
    with statements(app.extensions["db.engine"], leave_out=TRANSACTION_CONTROL) as seen:
        client.get("/")  # the home page (its sidebar) also caches the user's roles
        seen.clear()
        client.htmx_get("/panels/test.idle")
        baseline = len(seen)  # the request itself: the signed-in user
        assert baseline == 1
        for code in [*EVERYONE, "supervision.deadlines", "casemgmt.team_day", "casemgmt.events", *KPI_PANELS]:
            seen.clear()
            assert client.htmx_get(f"/panels/{code}").status_code == 200
            assert len(seen) - baseline <= 3, (code, seen[baseline:])


def test_the_teams_day_panel_counts_without_reading_the_managers(client, cm_day):
    """The panel shows totals only: one count query over the day's lists, no user rows for the names."""
    client.login("boss")
    client.htmx_get("/panels/casemgmt.team_day")
    with statements() as seen:
        team = figures(client.htmx_get("/panels/casemgmt.team_day"))
    assert team["待完成"][0] == "4" and team["未分派"][0] == "0"
    assert len([s for s in seen if "FROM care_tasks" in s]) == 1
    assert not [s for s in seen if "FROM users" in s and "user_sessions" not in s], seen
