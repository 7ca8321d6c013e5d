"""The task list's per-page shortcuts keep what each request shows: the list and count statements kept between
requests take each request's user, day and manager; card links built from one pattern per page are the routes'
links; completing a task reads it once (the UPDATE returns what it changed)."""

from __future__ import annotations

import re

from flask import url_for

from portal.core.templating import url_pattern
from tests.conftest import text_of
from tests.integration.test_casemgmt_tasks import (  # noqa: F401 (the fixtures)
    TODAY,
    YESTERDAY,
    complete,
    day_list,
    pinned_clock,
    shown,
    task,
    team,
)
from tests.sqlcount import statements


def test_kept_list_statements_take_each_requests_user_day_and_manager(client, team, day_list):  # noqa: F811
    """One process serves Li, Wang and the supervisor in turn: each sees their own list, day and counts."""
    client.login("cm_li")
    li_today = client.get("/casemgmt/tasks")
    assert "张*丰" in text_of(li_today) and "孙*" not in text_of(li_today) and shown(li_today, "count-open") == "4"
    li_open = client.get("/casemgmt/tasks?status=open")  # filtered: the counts come from the count statement
    assert shown(li_open, "count-open") == "4" and "孙*" not in text_of(li_open)
    assert "没有符合条件的任务" in text_of(client.get("/casemgmt/tasks?q=99床"))  # a search: built each time
    li_yesterday = text_of(client.get(f"/casemgmt/tasks?day={YESTERDAY.isoformat()}"))
    assert "吴*" in li_yesterday and "张*丰" not in li_yesterday  # today's plan is not on yesterday's list
    client.submit("/logout")
    client.login("cm_wang")
    wang = client.get("/casemgmt/tasks")
    assert "孙*" in text_of(wang) and "张*丰" not in text_of(wang) and shown(wang, "count-open") == "1"
    wang_open = client.get("/casemgmt/tasks?status=open")
    assert shown(wang_open, "count-open") == "1" and "张*丰" not in text_of(wang_open)
    # A completion's counts (sent with the card) are Wang's too.
    done = complete(client, day_list["sun"], outcome="reached")
    assert shown(done, "count-open") == "0" and shown(done, "count-done") == "1"
    client.submit("/logout")
    client.login("cm_boss")
    whole = text_of(client.get("/casemgmt/tasks"))
    assert "张*丰" in whole and "孙*" in whole and "冯*" in whole
    only_li = client.get(f"/casemgmt/tasks?manager_id={team.li.id}&status=open")
    assert "张*丰" in text_of(only_li) and "孙*" not in text_of(only_li) and shown(only_li, "count-open") == "4"


def test_card_links_are_the_routes_links(app, client, team, day_list):  # noqa: F811
    """Links made from one pattern per page equal url_for's, the detail link with its day and team flag."""
    client.login("cm_boss")
    html = client.get("/casemgmt/tasks").get_data(as_text=True)
    zhang = day_list["zhang"]
    card = html[html.index(f'<article id="task-{zhang}"'):]
    card = card[:card.index("</article>")]
    with app.test_request_context("/"):
        patient_id = task(zhang).patient_id
        links = [url_for("casemgmt.view_patient", patient_id=patient_id),
                 url_for("casemgmt.complete_task", task_id=zhang),
                 url_for("casemgmt.task_detail", task_id=zhang, day=TODAY.isoformat(), team=1),
                 url_for("casemgmt.reassign_form", task_id=zhang, day=TODAY.isoformat(), mode="list")]
    for link in links:
        assert f'"{link}"' in card.replace("&amp;", "&"), link  # the reassign form's link: fetched on opening
    assert "team=1" in links[2]
    # Mounted under a path with an escaped character, the pattern still gives url_for's link.
    with app.test_request_context("/", base_url="http://portal.example/a%25b/"):
        pattern = url_pattern("casemgmt.task_detail", "task_id", day="2026-01-02")
        assert pattern % 42 == url_for("casemgmt.task_detail", task_id=42, day="2026-01-02")
        assert (pattern % 42).startswith("/a%b/")  # a literal % in the pattern is kept


def test_completing_reads_the_task_once_and_shows_what_the_update_returned(client, team, day_list):  # noqa: F811
    client.login("cm_li")
    with statements() as seen:
        attempt = complete(client, day_list["zhang"], outcome="not_reached")
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT") and "FROM care_tasks" in s]
    assert len(reads) == 2, reads  # the task, then the day's counts
    assert attempt.status_code == 200 and "未联系上（第 1 次）" in text_of(attempt)
    assert re.search(r"共 1 次", text_of(attempt)) and task(day_list["zhang"]).attempts == 1
    # Closing: the card names who completed it (its key came back with the UPDATE) and when.
    done = complete(client, day_list["qian"], outcome="reached")
    assert done.status_code == 200 and "已完成（联系上） · 李个管 · " in text_of(done)
    assert task(day_list["qian"]).status == "done"
    again = complete(client, day_list["qian"], outcome="declined")
    assert again.status_code == 409 and "该任务已由李个管处理" in text_of(again)
