"""Two people changing one catalogue entry at the same moment, each its own request and connection: no revision is
lost and no revision number is written twice."""

from __future__ import annotations

import threading

from sqlalchemy import select

from portal.catalogue.models import Technology, TechnologyRevision
from portal.catalogue.technologies import services as catalogue
from portal.extensions import db
from tests.conftest import text_of, workers
from tests.factories import make_tree, make_user


def _race(app, posts: dict[str, tuple[str, dict]]) -> dict[str, tuple[int, str]]:
    clients = {login: app.test_client() for login in posts}
    for login, client in clients.items():
        client.login(login)
    barrier = threading.Barrier(len(posts))
    answers: dict[str, tuple[int, str]] = {}

    def post(login: str) -> None:
        url, data = posts[login]
        barrier.wait()
        response = clients[login].submit(url, data)
        answers[login] = (response.status_code, text_of(response))

    threads = [threading.Thread(target=post, args=(login,)) for login in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers


def test_simultaneous_edits_never_lose_or_repeat_a_revision(tmp_path, redis_server):
    with workers(tmp_path, redis_server, "catrace", 1) as (app,):
        with app.app_context():
            tree = make_tree()
            make_user("ma_a", ["ma_staff"], tree.hospital, name="甲干事")
            make_user("ma_b", ["ma_admin"], tree.hospital, name="乙科长")
            tech = catalogue.create_technology({"code": "SS001", "name": "胆囊切除术", "category": "surgery",
                                                "grade": 2}, [], reason="新增")
            db.session.commit()
            tech_id, surgery = tech.id, tree.surgery.id

        form = {"code": "SS001", "name": "胆囊切除术", "category": "surgery", "revision": "1"}
        # Both edited revision 1: one is saved as revision 2, the other is told to refresh (409).
        answers = _race(app, {"ma_a": (f"/catalogue/technologies/{tech_id}/edit",
                                       {**form, "grade": "3", "reason": "甲改为三级"}),
                              "ma_b": (f"/catalogue/technologies/{tech_id}/edit",
                                       {**form, "grade": "4", "reason": "乙改为四级"})})
        assert sorted(status for status, _ in answers.values()) == [303, 409], answers
        loser = next(body for status, body in answers.values() if status == 409)
        assert "该条目已被他人修改（当前为第 2 版）" in loser

        # Changes that do not name a revision (a bulk action, enabling) both land, one after the other.
        answers = _race(app, {"ma_a": ("/catalogue/technologies/bulk",
                                       {"ids": [tech_id], "action": "add_departments",
                                        "department_ids": [surgery], "reason": "普外开展"}),
                              "ma_b": (f"/catalogue/technologies/{tech_id}/status",
                                       {"status": "disabled", "reason": "暂停"})})
        assert sorted(status for status, _ in answers.values()) == [303, 303], answers
        with app.app_context():
            numbers = list(db.session.scalars(select(TechnologyRevision.revision)
                                              .where(TechnologyRevision.technology_id == tech_id)
                                              .order_by(TechnologyRevision.revision)))
            assert numbers == [1, 2, 3, 4]
            tech = db.session.get(Technology, tech_id)
            assert tech.revision == 4 and tech.status == "disabled" and [d.id for d in tech.departments] == [
                surgery]
            latest = catalogue.revision(tech_id, 4).data
            assert latest["status"] == "disabled" and latest["departments"] == [tree.surgery.code]
