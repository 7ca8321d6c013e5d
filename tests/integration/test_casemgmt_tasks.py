"""今日任务 and 任务分派: scoping, filters, search, completing in place, conflicts, bad input, build, reassign."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from portal.auth.models import Department, User
from portal.casemgmt.models import OUTCOMES, CareTask, LedgerEntry, Patient, SatisfactionSurvey
from portal.casemgmt.tasks import services as tasks
from portal.core import timeutil
from portal.core.timeutil import LOCAL_TZ, local_today
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user
from tests.sqlcount import statements

TODAY = local_today()
YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)
NOON = datetime.combine(TODAY, time(12), LOCAL_TZ).astimezone(UTC)


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    """The whole module lives on TODAY: a run that crosses midnight in Beijing must not move "today"."""
    monkeypatch.setattr(timeutil, "_now", lambda: NOON)


@dataclass
class Team:
    ward: Department
    other_ward: Department
    lonely_ward: Department  # nobody covers it
    li: User
    wang: User
    boss: User


@pytest.fixture
def team(tree) -> Team:
    ward = cm.make_ward("胸外病区", tree.surgery)
    other_ward = cm.make_ward("骨科病区", tree.orthopaedics)
    lonely_ward = cm.make_ward("日间病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    wang = cm.make_case_manager("cm_wang", tree.surgery, "王个管")
    boss = make_user("cm_boss", ["cm_supervisor"], tree.surgery, name="赵组长")
    cm.cover(ward, li, wang)
    cm.cover(other_ward, li)
    return Team(ward, other_ward, lonely_ward, li, wang, boss)


def patient(name: str, manager: User | None, ward: Department, bed: str, **dates) -> Patient:
    p = cm.make_patient(name)
    cm.enrol(p, case_manager=manager, ward=ward, bed=bed, **dates)
    return p


@pytest.fixture
def day_list(team) -> dict[str, int]:
    """Li: two of today's plan items, one carried over from yesterday, one pathway step with outcome fields.

    Wang: one item. Nobody: one item for a patient without a case manager in a ward nobody covers.
    """
    zhang = patient("张三丰", team.li, team.ward, "12床")
    qian = patient("钱一", team.li, team.other_ward, "3床")
    sun = patient("孙二", team.wang, team.ward, "12床")
    wu = patient("吴三", team.li, team.ward, "5床")
    nobody = patient("冯五", None, team.lonely_ward, "8床")
    cm.make_pathway()  # only the enrolment made after it follows the pathway
    zheng = patient("郑四", team.li, team.ward, "21床", discharge_date=YESTERDAY)
    cm.make_plan(YESTERDAY, {"patient_id": wu.id, "ward_id": team.ward.id, "bed": "5床", "time_slot": "afternoon"})
    cm.make_plan(TODAY,
         {"patient_id": zhang.id, "ward_id": team.ward.id, "bed": "12床", "time_slot": "morning",
          "special_needs": ["wheelchair"], "special_note": "需轮椅接送"},
         {"patient_id": qian.id, "ward_id": team.other_ward.id, "bed": "3床", "time_slot": "afternoon",
          "task_type": "phone_followup"},
         {"patient_id": sun.id, "ward_id": team.ward.id, "bed": "12床", "time_slot": "morning"},
         {"patient_id": nobody.id, "ward_id": team.lonely_ward.id, "bed": "8床"})
    tasks.build_daily_tasks(YESTERDAY)
    tasks.build_daily_tasks(TODAY)
    db.session.commit()
    ids = {}
    for key, p in (("zhang", zhang), ("qian", qian), ("sun", sun), ("wu", wu), ("zheng", zheng),
                   ("nobody", nobody)):
        ids[key] = db.session.scalar(select(CareTask.id).where(CareTask.patient_id == p.id))
    return ids


def task(task_id: int) -> CareTask:
    return db.session.get(CareTask, task_id, populate_existing=True)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def shown(response, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">([^<]*)<', response.get_data(as_text=True))
    return match.group(1) if match else ""


def complete(client, task_id: int, htmx: bool = True, **data):
    return client.submit(f"/casemgmt/tasks/{task_id}/complete", {"day": TODAY.isoformat(), **data}, htmx=htmx)


# --- the list ----------------------------------------------------------------------------------------------------


def test_anonymous_goes_to_login_and_a_case_manager_may_not_assign(client, team):
    response = client.get("/casemgmt/tasks")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    client.login("cm_li")
    assert client.get("/casemgmt/tasks/overview").status_code == 403
    assert client.submit("/casemgmt/tasks/build", {}).status_code == 403
    home = client.get("/")  # on a ward tablet the day comes first: the home page opens with today's tasks
    assert home.status_code == 200 and home.get_data(as_text=True).index('data-panel="casemgmt.my_day"') \
        < home.get_data(as_text=True).index('data-panel="approvals.todo"')
    page = client.get("/casemgmt/tasks").get_data(as_text=True)
    assert "今日任务" in page and "任务分派" not in page
    client.submit("/logout")
    client.login("cm_boss")  # the supervisor keeps the start page with all areas
    home = client.get("/")
    assert home.status_code == 200 and "任务分派" in text_of(home)


def test_a_case_manager_sees_only_their_own_list_overdue_first_with_counts(client, team, day_list):
    client.login("cm_li")
    response = client.get("/casemgmt/tasks")
    html, page = response.get_data(as_text=True), text_of(response)
    assert response.status_code == 200 and "今日任务" in page
    for masked in ("张*丰", "钱*", "吴*", "郑*"):
        assert masked in page
    assert "孙*" not in page and "冯*" not in page  # Wang's and the unassigned task
    assert "张三丰" not in html  # names are masked on screen
    # The carried-over task opens the list, in its own group, marked overdue.
    assert html.index("逾期未完成") < html.index("吴*") < html.index("上午") < html.index("张*丰")
    assert "逾期 1 天" in page
    assert (shown(response, "count-open"), shown(response, "count-done"), shown(response, "count-overdue")) \
        == ("4", "0", "1")
    # Each card opens its patient.
    zhang_patient = task(day_list["zhang"]).patient_id
    assert f'<a class="task-patient" href="/casemgmt/patients/{zhang_patient}">张*丰</a>' in html
    # Special needs are highlighted on the card.
    assert 'data-testid="special-need"' in html and "轮椅" in page and "需轮椅接送" in page
    # Another manager's list is not reachable by a case manager: the parameter is ignored.
    assert "孙*" not in text_of(client.get(f"/casemgmt/tasks?manager_id={team.wang.id}"))


def test_the_list_exports_exactly_as_filtered(client, team, day_list):
    import io

    from openpyxl import load_workbook

    def exported(url):
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
        rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
        header = next(i for i, r in enumerate(rows) if r[0] == "应完成日期")
        return rows[header + 1:]

    client.login("cm_li")
    page = client.get("/casemgmt/tasks").get_data(as_text=True)
    assert 'href="/casemgmt/tasks/export?' in page or 'href="/casemgmt/tasks/export"' in page
    rows = exported("/casemgmt/tasks/export")
    names = sorted(r[4] for r in rows)
    on_page = sorted(task(i).patient.masked_name for k, i in day_list.items() if k in ("zhang", "qian", "wu", "zheng")
                     and task(i).case_manager_id == team.li.id)
    assert names == on_page and "张三丰" not in str(rows)  # their own list, masked
    wheelchair = [r for r in rows if r[4] == "张*丰"]
    assert wheelchair and wheelchair[0][7] == "轮椅" and wheelchair[0][8] == "需轮椅接送"
    phone = sorted(task(i).patient.masked_name for i in day_list.values()
                   if task(i).case_manager_id == team.li.id and task(i).task_type == "phone_followup")
    assert len(phone) == 2  # the planned call and the pathway's call
    assert sorted(r[4] for r in exported("/casemgmt/tasks/export?task_type=phone_followup")) == phone
    assert client.get("/casemgmt/tasks/export?day=2026-13-01").status_code == 400


def test_a_supervisor_opens_on_the_team_view_and_its_export_has_the_rows(client, team, day_list):
    import io

    from openpyxl import load_workbook

    client.login("cm_boss")
    team_page = client.get("/casemgmt/tasks")
    page = text_of(team_page)
    # Everyone's tasks of the day (the unassigned one too), each card naming its case manager.
    for masked in ("张*丰", "钱*", "孙*", "吴*", "郑*", "冯*"):
        assert masked in page
    assert "这一天没有任务" not in page and "全组" in page and "王个管" in page and "未分派" in page
    assert shown(team_page, "count-open") == "6"
    rows = list(load_workbook(io.BytesIO(client.get("/casemgmt/tasks/export").data)).active.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r[0] == "应完成日期")
    assert sorted(r[4] for r in rows[header + 1:]) == sorted(["张*丰", "钱*", "孙*", "吴*", "郑*", "冯*"])
    # Their own list is one choice away, and says so when it is empty.
    own = text_of(client.get(f"/casemgmt/tasks?manager_id={team.boss.id}"))
    assert "这一天您的清单上没有任务" in own
    wangs = client.get(f"/casemgmt/tasks?manager_id={team.wang.id}")
    assert wangs.status_code == 200 and "孙*" in text_of(wangs) and "王个管" in text_of(wangs)
    assert "张*丰" not in text_of(wangs)
    assert client.get("/casemgmt/tasks?manager_id=999999").status_code == 404
    refused = client.get("/casemgmt/tasks?manager_id=abc")
    assert refused.status_code == 400 and "应为整数" in text_of(refused)


def test_filters_search_and_grouping(client, team, day_list):
    client.login("cm_li")

    def names(query: str) -> set[str]:
        response = client.htmx_get(f"/casemgmt/tasks?{query}")
        assert response.status_code == 200
        assert "<html" not in response.get_data(as_text=True)  # the partial only
        return {m for m in ("张*丰", "钱*", "吴*", "郑*") if m in text_of(response)}

    assert names(f"ward_id={team.other_ward.id}") == {"钱*"}
    assert names("task_type=phone_followup") == {"钱*", "郑*"}
    assert names("q=12床") == {"张*丰"}
    assert names("q=12") == {"张*丰"}
    assert names("q=1") == {"张*丰"}  # bed prefix
    assert names("q=张") == {"张*丰"}
    assert names("q=郑四") == names("q=郑五") == {"郑*"}  # searched as 郑*: the hidden character never counts
    assert names("q=三丰") == set()
    assert names("q=%25") == set()  # LIKE wildcards are matched literally
    assert names("status=done") == set()
    assert names("status=open") == {"张*丰", "钱*", "吴*", "郑*"}
    by_ward = client.htmx_get("/casemgmt/tasks?group=ward").get_data(as_text=True)
    groups = re.findall(r'<h2 id="group-[^"]+">([^<]+)<', by_ward)
    assert [g.strip() for g in groups] == ["逾期未完成（结转）", "胸外病区", "骨科病区"]
    by_slot = client.htmx_get("/casemgmt/tasks").get_data(as_text=True)
    assert [g.strip() for g in re.findall(r'<h2 id="group-[^"]+">([^<]+)<', by_slot)] == [
        "逾期未完成（结转）", "上午", "下午", "全天"]
    # The ward filter offers the wards on the list (and follows the list out of band).
    page = client.get("/casemgmt/tasks").get_data(as_text=True)
    assert f'<option value="{team.other_ward.id}">骨科病区</option>' in page
    assert f'<option value="{team.lonely_ward.id}"' not in page
    assert 'id="task-ward" name="ward_id" aria-label="病区" hx-swap-oob="true"' in by_slot


def test_bad_query_strings_are_refused_in_chinese(client, team, day_list):
    client.login("cm_li")
    for query, phrase in (("day=2026-13-45", "格式不正确"), ("day=yesterday", "格式不正确"),
                          ("group=bed", "取值无效"), ("status=lost", "取值无效"), ("task_type=x", "取值无效"),
                          ("ward_id=99999999999", "超出范围"), ("q=" + "床" * 30, "过长")):
        response = client.get(f"/casemgmt/tasks?{query}")
        assert response.status_code == 400, query
        assert phrase in text_of(response), query


# --- completing in place -------------------------------------------------------------------------------------------


def test_completing_swaps_the_card_and_stores_values_and_score(client, team, day_list):
    client.login("cm_li")
    zheng = task(day_list["zheng"])
    assert zheng.outcome_fields == ["体温", "伤口情况"]
    page = client.get("/casemgmt/tasks").get_data(as_text=True)
    detail = f"/casemgmt/tasks/{zheng.id}/detail"
    assert f'hx-get="{detail}' in page and 'name="value_0"' not in page  # the form comes when the card opens it
    form = client.htmx_get(f"{detail}?day={TODAY.isoformat()}").get_data(as_text=True)
    assert 'name="value_0"' in form and "体温" in form  # the step's outcome fields become inputs
    response = complete(client, zheng.id, outcome="reached", value_0="36.8", value_1="愈合良好", note="已电话联系",
                        score="5")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, text_of(response)
    assert html.lstrip().startswith(f'<article id="task-{zheng.id}"')  # the card itself, for outerHTML
    assert "已完成" in text_of(response) and "已记录：已完成（联系上），满意度 5 分。" in text_of(response)
    assert 'id="task-counts"' in html and 'hx-swap-oob="true"' in html
    assert shown(response, "count-done") == "1" and shown(response, "count-open") == "3"
    done = task(zheng.id)
    assert (done.status, done.outcome, done.completed_by_id) == ("done", "reached", team.li.id)
    assert done.outcome_values == {"体温": "36.8", "伤口情况": "愈合良好"} and done.note == "已电话联系"
    survey = db.session.scalar(select(SatisfactionSurvey).where(SatisfactionSurvey.task_id == zheng.id))
    assert (survey.timeliness, survey.effectiveness, survey.attitude) == (5, 5, 5)
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.task_id == zheng.id)) == 1
    # The finished task stays on today's list, counted as done.
    listing = client.get("/casemgmt/tasks")
    assert shown(listing, "count-done") == "1" and "36.8" in text_of(listing)


def test_the_card_records_the_usual_outcomes_in_one_tap(client, team, day_list):
    client.login("cm_li")
    page = client.get("/casemgmt/tasks").get_data(as_text=True)
    zhang = day_list["zhang"]
    card = page[page.index(f'<article id="task-{zhang}"'):]
    card = card[:card.index("</article>")]
    # Three buttons that post straight away, before (and outside) the details form.
    for code, word in (("reached", "已完成"), ("not_reached", "未联系上"), ("declined", "患者拒绝")):
        assert f'name="outcome" value="{code}" class="outcome-{code}" data-testid="quick-{code}"' in card
        assert f">{word}</button>" in card
    assert card.index('data-testid="quick-reached"') < card.index("<details")
    response = complete(client, zhang, outcome="reached")  # what one tap sends: no note, no score
    assert response.status_code == 200 and shown(response, "count-done") == "1"
    assert task(zhang).status == "done" and "已完成" in text_of(response)


def test_not_reached_keeps_the_task_open_carried_over_until_the_supervisor_is_told(client, team, day_list, app,
                                                                                   monkeypatch):
    from portal.notify.models import Notification

    client.login("cm_li")
    zhang = day_list["zhang"]
    first = complete(client, zhang, outcome="not_reached")
    assert first.status_code == 200
    # Amber, with the attempt count; still open, still today's, nothing in the ledger yet.
    assert '<span class="badge badge-warn">未联系上（第 1 次）</span>' in first.get_data(as_text=True)
    assert "已完成" not in shown(first, "task-state")
    assert (task(zhang).status, task(zhang).attempts) == ("open", 1)
    assert shown(first, "count-open") == "4" and shown(first, "count-done") == "0"
    assert count(LedgerEntry) == 0
    assert 'data-testid="quick-not_reached"' in first.get_data(as_text=True)  # try again later today
    # Tomorrow it is carried over, with its count.
    tomorrow = client.get(f"/casemgmt/tasks?day={TOMORROW}")
    assert "张*丰" in text_of(tomorrow) and "未联系上（第 1 次）" in text_of(tomorrow)
    # The last allowed attempt (PORTAL_CM_MAX_ATTEMPTS, here 2) closes it and flags it to the supervisor.
    monkeypatch.setitem(app.config, "CM_MAX_ATTEMPTS", 2)
    last = complete(client, zhang, outcome="not_reached")
    assert last.status_code == 200 and "已提醒个案管理组长" in text_of(last)
    closed = task(zhang)
    assert (closed.status, closed.attempts) == ("unreached", 2) and closed.flagged_at is not None
    assert "未联系上 2 次，已上报组长" in text_of(last)
    assert "张*丰" not in text_of(client.get(f"/casemgmt/tasks?day={TOMORROW}"))  # no longer carried
    assert db.session.scalar(select(Notification.title).where(Notification.user_id == team.boss.id)) \
        == "张*丰连续 2 次未联系上，请跟进"
    assert count(LedgerEntry) == 1
    client.submit("/logout")
    client.login("cm_boss")
    overview = client.get("/casemgmt/tasks/overview")
    assert 'data-testid="flagged-tasks"' in overview.get_data(as_text=True) and "张*丰" in text_of(overview)
    # The supervisor gives it another round on Wang's list: open again, on today's list, count reset.
    again = client.submit(f"/casemgmt/tasks/{zhang}/reassign", {"case_manager_id": str(team.wang.id),
                                                                 "day": TODAY.isoformat(), "mode": "overview"},
                          htmx=True)
    assert again.status_code == 200, text_of(again)
    reopened = task(zhang)
    assert (reopened.status, reopened.attempts, reopened.case_manager_id, reopened.flagged_at) == \
        ("open", 0, team.wang.id, None)
    assert 'data-testid="flagged-tasks"' not in client.get("/casemgmt/tasks/overview").get_data(as_text=True)
    # Wang reaches the patient: the task's one ledger row now says so (not a second row), counted once.
    client.submit("/logout")
    client.login("cm_wang")
    reached = complete(client, zhang, outcome="reached")
    assert reached.status_code == 200, text_of(reached)
    assert task(zhang).status == "done"
    rows = db.session.scalars(select(LedgerEntry).where(LedgerEntry.task_id == zhang)).all()
    assert [(r.outcome, r.case_manager_id) for r in rows] == [("reached", team.wang.id)]
    from portal.casemgmt.models import LedgerMonth

    assert db.session.scalar(select(func.sum(LedgerMonth.services))) == 1


def test_declined_is_its_own_grey_closed_state_and_a_flag_can_be_dismissed(client, team, day_list, app,
                                                                           monkeypatch):
    client.login("cm_li")
    response = complete(client, day_list["qian"], outcome="declined")
    assert response.status_code == 200
    assert '<span class="badge badge-off">患者拒绝</span>' in response.get_data(as_text=True)
    assert "已完成" not in shown(response, "task-state") and "badge-ok" not in response.get_data(as_text=True)
    assert task(day_list["qian"]).status == "declined" and shown(response, "count-done") == "1"
    monkeypatch.setitem(app.config, "CM_MAX_ATTEMPTS", 1)
    assert complete(client, day_list["zhang"], outcome="not_reached").status_code == 200
    assert client.submit(f"/casemgmt/tasks/{day_list['zhang']}/dismiss", {}, htmx=True).status_code == 403
    client.submit("/logout")
    client.login("cm_boss")
    dismissed = client.submit(f"/casemgmt/tasks/{day_list['zhang']}/dismiss", {"mode": "overview"}, htmx=True)
    assert dismissed.status_code == 200 and "组长已跟进" in text_of(dismissed)
    assert task(day_list["zhang"]).flagged_at is None and task(day_list["zhang"]).status == "unreached"
    assert client.submit(f"/casemgmt/tasks/{day_list['zhang']}/dismiss", {}, htmx=True).status_code == 409


def test_without_htmx_the_form_redirects_back_to_the_list(client, team, day_list):
    client.login("cm_li")
    refused = complete(client, day_list["zhang"], htmx=False, outcome="lost")
    assert refused.status_code == 422 and "<html" in refused.get_data(as_text=True)  # the card on a page of its own
    assert "请选择服务结果" in text_of(refused) and "返回任务列表" in text_of(refused)
    response = complete(client, day_list["zhang"], htmx=False, outcome="not_reached")
    assert response.status_code == 303 and "/casemgmt/tasks" in response.headers["Location"]
    assert task(day_list["zhang"]).outcome == "not_reached"


def test_the_detail_form_is_fetched_with_the_same_checks_as_completing(client, tree, team, day_list):
    make_user("cm_viewer", ["case_manager", "plan_issuer"], tree.surgery, name="查看者")
    zhang = day_list["zhang"]
    detail = f"/casemgmt/tasks/{zhang}/detail?day={TODAY.isoformat()}"
    assert client.htmx_get(detail).status_code in (302, 401)  # signed out: no form
    client.login("cm_li")
    page = client.get("/casemgmt/tasks").get_data(as_text=True)
    card = page[page.index(f'<article id="task-{zhang}"'):]
    card = card[:card.index("</article>")]
    # The collapsed details hold a link (the page without JavaScript) that htmx replaces with the form on opening.
    assert 'hx-trigger="toggle once"' in card and f'<a href="{detail}">' in card and "<textarea" not in card
    response = client.htmx_get(detail)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<form class="task-detail"')
    assert f'hx-post="/casemgmt/tasks/{zhang}/complete"' in html and 'name="csrf_token"' in html
    assert f'name="day" value="{TODAY.isoformat()}"' in html and f'min="{TOMORROW.isoformat()}"' in html
    assert re.findall(r'name="outcome" value="(\w+)"', html) == list(OUTCOMES)
    # Without htmx: the task's own page, the form open, a way back to the list.
    whole = client.get(detail)
    assert whole.status_code == 200 and "<html" in whole.get_data(as_text=True)
    assert '<details class="task-act" open>' in whole.get_data(as_text=True) and "返回任务列表" in text_of(whole)
    # Posting the fetched form validates in Chinese and comes back with the form open.
    refused = complete(client, zhang, outcome="reached", score="9")
    assert refused.status_code == 422 and "1–5" in text_of(refused)
    assert '<details class="task-act" open>' in refused.get_data(as_text=True)
    # Someone else's task is not there at all; a task finished meanwhile says so instead of offering the form.
    client.submit("/logout")
    client.login("cm_wang")
    assert client.htmx_get(detail).status_code == 404 and client.get(detail).status_code == 404
    assert client.htmx_get("/casemgmt/tasks/99999999999/detail").status_code == 404
    assert client.htmx_get(f"/casemgmt/tasks/{day_list['sun']}/detail").status_code == 200
    complete(client, day_list["sun"], outcome="reached")
    closed = client.htmx_get(f"/casemgmt/tasks/{day_list['sun']}/detail")
    assert closed.status_code == 200 and "该任务已处理（已完成）" in text_of(closed) and "<form" not in closed.text
    # Seeing every task does not make it one's own: without the right to assign, a 403.
    client.submit("/logout")
    client.login("cm_viewer")
    assert client.htmx_get(detail).status_code == 403
    client.submit("/logout")
    client.login("cm_boss")  # the supervisor may act on any task
    assert 'name="note"' in client.htmx_get(detail).get_data(as_text=True)


def test_someone_elses_task_is_refused_with_403_and_left_alone(client, team, day_list):
    client.login("cm_wang")
    response = complete(client, day_list["zhang"], outcome="reached", score="4")
    assert response.status_code == 403
    assert "这不是您的任务" in text_of(response) and "张*丰" not in text_of(response)
    assert task(day_list["zhang"]).status == "open" and count(LedgerEntry) == 0


def test_the_second_completion_gets_409_with_the_winners_result(client, team, day_list):
    client.login("cm_li")
    assert complete(client, day_list["zhang"], outcome="reached").status_code == 200
    client.submit("/logout")
    client.login("cm_boss")  # the supervisor, on another tablet, a moment later
    response = complete(client, day_list["zhang"], outcome="declined")
    assert response.status_code == 409
    page = text_of(response)
    assert response.get_data(as_text=True).lstrip().startswith(f'<article id="task-{day_list["zhang"]}"')
    assert "该任务已由李个管处理（已完成）" in page and "已完成（联系上）" in page and "李个管" in page
    done = task(day_list["zhang"])
    assert (done.outcome, done.completed_by_id) == ("reached", team.li.id) and count(LedgerEntry) == 1


def test_rescheduling_moves_the_task_to_the_chosen_day(client, team, day_list):
    client.login("cm_li")
    later = TODAY + timedelta(days=2)
    response = complete(client, day_list["qian"], outcome="rescheduled", reschedule_to=later.isoformat(),
                        note="患者外出")
    assert response.status_code == 200 and f"已改期至 {later:%Y-%m-%d}" in text_of(response)
    moved = task(day_list["qian"])
    assert (moved.status, moved.due_date, moved.reschedule_count) == ("open", later, 1)
    assert "钱*" not in text_of(client.get("/casemgmt/tasks"))
    assert "钱*" in text_of(client.get(f"/casemgmt/tasks?day={later}"))


@pytest.mark.parametrize(("data", "status", "phrase"), [
    ({"outcome": "lost"}, 422, "请选择服务结果"),
    ({"outcome": ""}, 422, "请选择服务结果"),
    ({"outcome": "reached", "score": "9"}, 422, "1–5"),
    ({"outcome": "reached", "score": "abc"}, 422, "1–5"),
    ({"outcome": "reached", "score": "-1"}, 422, "1–5"),
    ({"outcome": "reached", "note": "长" * 501}, 422, "500"),
    ({"outcome": "reached", "value_0": "x" * 201}, 422, "200"),
    ({"outcome": "rescheduled", "reschedule_to": YESTERDAY.isoformat()}, 422, "明天或以后"),
    ({"outcome": "rescheduled", "reschedule_to": TODAY.isoformat()}, 422, "明天或以后"),
    ({"outcome": "rescheduled", "reschedule_to": ""}, 422, "明天或以后"),
    ({"outcome": "rescheduled", "reschedule_to": "2026-02-30"}, 422, "格式不正确"),
    ({"outcome": "rescheduled", "reschedule_to": (TODAY + timedelta(days=400)).isoformat()}, 422, "90 天"),
    ({"outcome": "reached", "day": "someday"}, 400, "格式不正确"),
])
def test_bad_completions_are_refused_in_chinese_and_change_nothing(client, team, day_list, data, status, phrase):
    client.login("cm_li")
    response = complete(client, day_list["zheng"], **data)
    assert response.status_code == status, text_of(response)
    assert phrase in text_of(response)
    if status == 422:  # the card comes back with the form open and what was typed
        html = response.get_data(as_text=True)
        assert html.lstrip().startswith(f'<article id="task-{day_list["zheng"]}"')
        assert '<details class="task-act" open>' in html and 'class="alert alert-error"' in html
    unchanged = task(day_list["zheng"])
    assert (unchanged.status, unchanged.due_date, unchanged.reschedule_count) == ("open", TODAY, 0)
    assert count(LedgerEntry) == 0 and count(SatisfactionSurvey) == 0


def test_ids_out_of_range_are_not_found(client, team, day_list):
    client.login("cm_boss")
    for task_id in ("0", "999999", "99999999999", "99999999999999999999"):
        for action in ("complete", "reassign"):
            response = client.submit(f"/casemgmt/tasks/{task_id}/{action}",
                                     {"outcome": "reached", "case_manager_id": team.li.id}, htmx=True)
            assert response.status_code == 404 and "不存在" in text_of(response), (task_id, action)
    assert count(LedgerEntry) == 0


# --- the supervisor: overview, build, reassign ---------------------------------------------------------------------


def test_overview_counts_per_case_manager_and_lists_unassigned_tasks(client, team, day_list):
    client.login("cm_boss")
    response = client.get("/casemgmt/tasks/overview")
    assert response.status_code == 200
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r'>([^<>]+)</a></td>\s*<td data-label="合计" class="num">(\d+)</td>', response.get_data(as_text=True))}
    assert rows == {"李个管": "4", "王个管": "1"}
    page = text_of(response)
    assert "未分派任务 （1）" in page and "冯*" in page and "1 逾期" in page


def test_build_button_builds_tomorrows_lists_and_reports_counts(client, team, day_list):
    tomorrow_patient = patient("褚六", team.wang, team.ward, "30床")
    cm.make_plan(TOMORROW, {"patient_id": tomorrow_patient.id, "ward_id": team.ward.id})
    client.login("cm_boss")
    response = client.submit("/casemgmt/tasks/build", {}, htmx=True)
    assert response.status_code == 200, text_of(response)
    assert f"{TOMORROW:%Y-%m-%d} 任务清单已生成：新增 1 项" in text_of(response)
    assert response.headers["HX-Push-Url"].endswith(f"day={TOMORROW}")
    built = db.session.scalar(select(CareTask).where(CareTask.patient_id == tomorrow_patient.id))
    assert built.due_date == TOMORROW and built.case_manager_id == team.wang.id
    again = client.submit("/casemgmt/tasks/build", {"day": TOMORROW.isoformat()})
    assert again.status_code == 303
    assert "新增 0 项" in text_of(client.get(again.headers["Location"]))
    for day, phrase in (("tomorrow", "格式不正确"), (YESTERDAY.isoformat(), "7 天内"),
                        ((TODAY + timedelta(days=8)).isoformat(), "7 天内")):
        refused = client.submit("/casemgmt/tasks/build", {"day": day}, htmx=True)
        assert refused.status_code == 422 and phrase in text_of(refused)
    assert db.session.scalar(select(func.count()).select_from(CareTask).where(CareTask.due_date == TOMORROW)) == 1


def test_a_rebuild_after_completion_changes_nothing(client, team, day_list):
    client.login("cm_li")
    assert complete(client, day_list["zhang"], outcome="reached", score="4").status_code == 200
    client.submit("/logout")
    client.login("cm_boss")
    before = db.session.execute(select(CareTask.id, CareTask.status, CareTask.case_manager_id, CareTask.due_date)
                                .order_by(CareTask.id)).all()
    response = client.submit("/casemgmt/tasks/build", {"day": TODAY.isoformat()}, htmx=True)
    assert response.status_code == 200 and "新增 0 项，更新 0 项，取消 0 项" in text_of(response)
    after = db.session.execute(select(CareTask.id, CareTask.status, CareTask.case_manager_id, CareTask.due_date)
                               .order_by(CareTask.id)).all()
    assert after == before and count(LedgerEntry) == 1 and count(SatisfactionSurvey) == 1


def test_reassigning_an_unassigned_task_and_refusals(client, team, day_list):
    lonely = day_list["nobody"]
    assert task(lonely).case_manager_id is None
    client.login("cm_boss")
    for value, phrase in (("abc", "在岗的个案管理师"), (str(team.boss.id), "在岗的个案管理师"),
                          ("99999999999", "在岗的个案管理师"), ("", "在岗的个案管理师")):
        refused = client.submit(f"/casemgmt/tasks/{lonely}/reassign",
                                {"case_manager_id": value, "day": TODAY.isoformat(), "mode": "overview"}, htmx=True)
        assert refused.status_code == 422 and phrase in text_of(refused), value
        assert task(lonely).case_manager_id is None
    response = client.submit(f"/casemgmt/tasks/{lonely}/reassign",
                             {"case_manager_id": team.wang.id, "day": TODAY.isoformat(), "mode": "overview"},
                             htmx=True)
    assert response.status_code == 200 and "已改派给王个管" in text_of(response)
    moved = task(lonely)
    assert moved.case_manager_id == team.wang.id and moved.assigned_by_hand
    assert "冯*" in text_of(client.get(f"/casemgmt/tasks?manager_id={team.wang.id}"))
    assert "未分派任务 （0）" in text_of(client.get("/casemgmt/tasks/overview"))
    # A rebuild keeps the supervisor's choice.
    tasks.build_daily_tasks(TODAY)
    db.session.commit()
    assert task(lonely).case_manager_id == team.wang.id
    # Only open tasks move.
    client.submit("/logout")
    client.login("cm_wang")
    assert complete(client, lonely, outcome="reached").status_code == 200
    client.submit("/logout")
    client.login("cm_boss")
    late = client.submit(f"/casemgmt/tasks/{lonely}/reassign", {"case_manager_id": team.li.id}, htmx=True)
    assert late.status_code == 409 and "只能改派未完成的任务" in text_of(late)
    assert task(lonely).case_manager_id == team.wang.id


def test_a_case_manager_may_not_reassign(client, team, day_list):
    client.login("cm_li")
    response = client.submit(f"/casemgmt/tasks/{day_list['zhang']}/reassign", {"case_manager_id": team.wang.id})
    assert response.status_code == 403 and task(day_list["zhang"]).case_manager_id == team.li.id


def test_the_list_costs_a_fixed_number_of_queries(client, team, day_list, app):
    """One query for the tasks (patients, wards, who finished them joined), which also gives the counts when the
    list is unfiltered; a filtered list counts the whole day with a second query. No N+1."""
    client.login("cm_li")
    complete(client, day_list["zhang"], outcome="reached")
    with statements(db.session.connection(), only="SELECT") as selects:
        first = client.get("/casemgmt/tasks")
        small = list(selects)
        for i in range(6):  # more tasks on the list must not mean more queries
            extra = patient(f"蒋{i}号", team.li, team.other_ward, f"{40 + i}床")
            cm.make_plan(TODAY, {"patient_id": extra.id, "ward_id": team.other_ward.id})
        tasks.build_daily_tasks(TODAY)
        db.session.commit()
        selects.clear()
        second = client.get("/casemgmt/tasks")
        unfiltered = list(selects)
        selects.clear()
        filtered = client.get(f"/casemgmt/tasks?ward_id={team.other_ward.id}")
    assert first.status_code == second.status_code == filtered.status_code == 200
    assert shown(second, "count-open") == shown(filtered, "count-open") == "9"
    assert shown(second, "count-done") == shown(filtered, "count-done")
    assert len(unfiltered) <= len(small), (small, unfiltered)
    assert len([s for s in unfiltered if "FROM care_tasks" in s]) == 1, unfiltered
    assert len([s for s in selects if "FROM care_tasks" in s]) == 2, selects


def test_counts_taken_from_the_list_equal_the_count_query(client, team, day_list, app):
    """The unfiltered list gives its own counts (open, done, overdue, wards): the same as the count query, for a
    manager and the team, on a day with carried-over, completed, declined and not-reached tasks."""
    from portal.casemgmt.tasks import queries as task_queries

    client.login("cm_li")
    complete(client, day_list["zhang"], outcome="reached")
    complete(client, day_list["qian"], outcome="declined")
    complete(client, day_list["wu"], outcome="not_reached")
    seen = []
    with app.test_request_context("/"):
        for manager_id, viewer_id in ((team.li.id, team.li.id), (team.wang.id, team.wang.id), (None, team.boss.id)):
            viewer = db.session.get(User, viewer_id)
            for day in (YESTERDAY, TODAY, TOMORROW):
                rows = task_queries.day_tasks(task_queries.TaskFilters(day=day, manager_id=manager_id), viewer)
                counts = task_queries.counts_of(rows, day)
                assert counts == task_queries.day_counts(day, manager_id, viewer)
                seen.append((manager_id, day, counts))
    li_today = next(c for m, d, c in seen if m == team.li.id and d == TODAY)
    assert li_today.open and li_today.done == 2 and li_today.overdue and len(li_today.wards) == 2


def test_an_attempt_that_leaves_the_task_open_reads_no_enrolment(client, team, day_list):
    """"Not reached" keeps the task open: no ledger row, so its enrolment (the ledger's disease) is not read."""
    client.login("cm_li")
    with statements() as seen:
        response = complete(client, day_list["zhang"], outcome="not_reached")
    assert response.status_code == 200 and task(day_list["zhang"]).attempts == 1
    assert not [s for s in seen if "FROM enrolments" in s], seen


def test_an_overview_with_nothing_unassigned_or_flagged_reads_no_cards(client, team, day_list):
    """The overview's counts already say whether any task is unassigned or flagged: with none, no card query runs;
    once one is unassigned, its card is read and shown."""
    client.login("cm_boss")
    client.submit(f"/casemgmt/tasks/{day_list['nobody']}/reassign", {"case_manager_id": str(team.wang.id),
                                                                     "day": TODAY.isoformat()})
    with statements() as seen:
        empty = client.get("/casemgmt/tasks/overview")
        quiet = [s for s in seen if "FROM care_tasks" in s]
        db.session.get(CareTask, day_list["nobody"]).case_manager_id = None
        db.session.commit()
        seen.clear()
        one = client.get("/casemgmt/tasks/overview")
    assert "未分派任务 （0）" in text_of(empty) and "冯*" not in text_of(empty)
    assert len(quiet) == 2, quiet  # the per-manager counts and the flagged total
    assert len([s for s in seen if "FROM care_tasks" in s]) == 3
    assert "未分派任务 （1）" in text_of(one) and "冯*" in text_of(one)
