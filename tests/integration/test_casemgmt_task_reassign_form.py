"""The supervisor's team list: each card's reassign form (every case manager) is fetched when the card opens it,
not carried by hundreds of cards; the overview and a failed form still show it open."""

from __future__ import annotations

import re

from flask import url_for

from tests.conftest import text_of
from tests.integration.test_casemgmt_tasks import (  # noqa: F401 (the fixtures)
    TODAY,
    complete,
    day_list,
    pinned_clock,
    task,
    team,
)


def _card(html: str, task_id: int) -> str:
    card = html[html.index(f'<article id="task-{task_id}"'):]
    return card[:card.index("</article>")]


def test_team_list_cards_fetch_the_reassign_form_on_opening(app, client, team, day_list):  # noqa: F811
    client.login("cm_boss")
    html = client.get("/casemgmt/tasks").get_data(as_text=True)
    zhang = day_list["zhang"]
    card = _card(html, zhang)
    with app.test_request_context("/"):
        form_url = url_for("casemgmt.reassign_form", task_id=zhang, day=TODAY.isoformat(), mode="list")
    assert "<select" not in card and 'name="case_manager_id"' not in card  # no list of managers per card
    assert f'hx-get="{form_url}"'.replace("&", "&amp;") in card and 'hx-trigger="toggle once"' in card
    assert f'href="{form_url}"'.replace("&", "&amp;") in card  # without JavaScript: the task's page
    # Opened: the form alone, every active case manager, the task's own selected, the card's day and mode.
    part = client.get(form_url, headers={"HX-Request": "true"})
    body = part.get_data(as_text=True)
    assert part.status_code == 200 and "<article" not in body and 'name="csrf_token"' in body
    options = dict(re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', body))
    assert options == {str(team.li.id): "李个管", str(team.wang.id): "王个管"}
    assert re.search(rf'<option value="{team.li.id}" selected>', body)
    assert f'value="{TODAY.isoformat()}"' in body and 'name="mode" value="list"' in body
    # Submitted, the task moves and the card comes back in place.
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    moved = client.post(f"/casemgmt/tasks/{zhang}/reassign", headers={"HX-Request": "true", "X-CSRFToken": token},
                        data={"csrf_token": token, "case_manager_id": team.wang.id, "day": TODAY.isoformat(),
                              "mode": "list"})
    assert moved.status_code == 200 and "已改派给王个管" in text_of(moved)
    assert task(zhang).case_manager_id == team.wang.id
    # Without htmx: the task's page with the form open.
    page = client.get(form_url).get_data(as_text=True)
    assert '<details class="task-reassign" open>' in page and f'<option value="{team.wang.id}" selected>' in page


def test_the_overview_keeps_the_form_open_and_a_handled_task_says_so(client, team, day_list):  # noqa: F811
    client.login("cm_boss")
    overview = client.get("/casemgmt/tasks/overview").get_data(as_text=True)
    lonely = _card(overview, day_list["nobody"])
    assert '<details class="task-reassign" open>' in lonely and "（选择个案管理师）" in lonely
    client.submit("/logout")
    client.login("cm_li")
    assert complete(client, day_list["qian"], outcome="reached").status_code == 200
    # A case manager may not fetch the form; a handled task gives a note instead of a form; an unknown id is 404.
    htmx = {"HX-Request": "true"}
    assert client.get(f"/casemgmt/tasks/{day_list['zhang']}/reassign", headers=htmx).status_code == 403
    client.submit("/logout")
    client.login("cm_boss")
    handled = client.get(f"/casemgmt/tasks/{day_list['qian']}/reassign", headers=htmx)
    assert handled.status_code == 200 and "该任务已处理（已完成）" in text_of(handled)
    assert "<select" not in handled.get_data(as_text=True)
    assert client.get("/casemgmt/tasks/99999999/reassign", headers=htmx).status_code == 404
