"""The technology catalogue: revisions, as-of, diffs, the list's search and filters, bulk actions, export,
permissions and the department page."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.catalogue.models import Technology, TechnologyRevision
from portal.catalogue.technologies import queries
from portal.catalogue.technologies import services as catalogue
from portal.core.audit import AuditLog
from portal.core.service import Conflict, ServiceError
from portal.core.timeutil import local_day_bounds, local_today
from portal.extensions import db
from portal.io import imports
from tests.conftest import text_of
from tests.factories import make_user
from tests.sqlcount import statements

DAY = timedelta(days=1)


def make_tech(code: str, name: str, *, grade: int = 2, category: str = "surgery", departments=(), when=None,
              **flags) -> Technology:
    values = {"code": code, "name": name, "category": category, "grade": grade, "national_code": f"N{code}",
              **flags}
    tech = catalogue.create_technology(values, [d.id for d in departments], reason="新增", when=when)
    db.session.commit()
    return tech


def revision_numbers(tech_id: int) -> list[int]:
    return list(db.session.scalars(select(TechnologyRevision.revision)
                                   .where(TechnologyRevision.technology_id == tech_id)
                                   .order_by(TechnologyRevision.revision)))


@pytest.fixture
def ma(tree):
    return make_user("yiwu_cat", ["ma_staff"], tree.hospital, name="陈医务")


# --- services -------------------------------------------------------------------------------------------------

def test_each_change_is_a_revision_with_the_whole_state_who_and_why(session, tree, ma):
    tech = make_tech("SS001", "腹腔镜下阑尾切除术", departments=[tree.surgery])
    assert (tech.revision, revision_numbers(tech.id)) == (1, [1])
    assert catalogue.update_technology(tech, {"grade": 3, "minimally_invasive": True}, [tree.surgery.id,
                                       tree.cardiology.id], reason="年度分级调整", expected_revision=1)
    assert catalogue.set_status(tech, "disabled", reason="停止开展")
    db.session.commit()
    assert (tech.revision, revision_numbers(tech.id)) == (3, [1, 2, 3])
    second = catalogue.revision(tech.id, 2)
    assert second.data["grade"] == 3 and second.data["minimally_invasive"] is True
    assert second.data["departments"] == sorted([tree.surgery.code, tree.cardiology.code])
    assert second.data["status"] == "active" and second.reason == "年度分级调整" and second.source == "form"
    assert catalogue.revision(tech.id, 3).data["status"] == "disabled"
    # No change, no revision; a blank reason is refused and changes nothing.
    assert not catalogue.update_technology(tech, {"grade": 3}, None, reason="再次保存")
    with pytest.raises(ServiceError, match="请填写修改原因"):
        catalogue.update_technology(tech, {"grade": 4}, None, reason=" ")
    db.session.commit()
    assert tech.revision == 3 and tech.grade == 3
    # Audited, with the reason and Chinese labels.
    logs = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "technology",
                                                     AuditLog.entity_id == str(tech.id)).order_by(AuditLog.id)).all()
    assert [log.action for log in logs] == ["create", "update", "deactivate"]
    assert logs[1].changes["reason"] == "年度分级调整" and logs[1].changes["grade"] == {"before": 2, "after": 3}


def test_an_edit_of_an_older_revision_is_refused(session, tree):
    tech = make_tech("SS002", "胆囊切除术")
    catalogue.update_technology(tech, {"grade": 3}, None, reason="调整", expected_revision=1)
    with pytest.raises(Conflict, match="当前为第 2 版"):
        catalogue.update_technology(tech, {"grade": 4}, None, reason="晚了一步", expected_revision=1)
    assert revision_numbers(tech.id) == [1, 2]


def test_as_of_a_date_reads_the_revision_valid_at_the_end_of_that_day(session, tree):
    today = local_today()
    start = local_day_bounds(today - 10 * DAY)[0]
    tech = make_tech("SS003", "全膝关节置换术", grade=3, when=start + timedelta(hours=2))
    catalogue.update_technology(tech, {"grade": 4}, None, reason="升级", when=local_day_bounds(today - 5 * DAY)[0]
                                + timedelta(hours=23))  # 23:00 local on day -5
    catalogue.set_status(tech, "disabled", reason="停用", when=local_day_bounds(today - 2 * DAY)[0])
    db.session.commit()
    assert catalogue.state_as_of(tech.id, today - 11 * DAY) is None  # not created yet
    assert catalogue.state_as_of(tech.id, today - 6 * DAY).data["grade"] == 3
    assert catalogue.state_as_of(tech.id, today - 5 * DAY).data["grade"] == 4  # valid at the end of that day
    assert catalogue.state_as_of(tech.id, today - 2 * DAY).data["status"] == "disabled"
    # The whole list as of a date, filtered like the current one.
    filters = queries.Filters(as_of=today - 6 * DAY, grade=3)
    assert [e.code for e in queries.as_of_entries(filters)] == ["SS003"]
    assert queries.as_of_entries(queries.Filters(as_of=today - 6 * DAY, status="disabled")) == []
    assert [e.revision for e in queries.as_of_entries(queries.Filters(as_of=today))] == [3]


def test_the_as_of_list_filters_like_the_current_one(session, tree):
    today = local_today()
    start = local_day_bounds(today - 10 * DAY)[0]
    a = make_tech("SS050", "腹腔镜下胆囊切除术", grade=3, minimally_invasive=True, departments=[tree.surgery],
                  when=start)
    make_tech("SS051", "冠状动脉_造影术", grade=2, category="interventional", departments=[tree.cardiology],
              when=start)
    catalogue.update_technology(a, {"restricted": True}, [tree.cardiology.id], reason="改")
    db.session.commit()

    def codes(**kwargs) -> list[str]:
        return [e.code for e in queries.as_of_entries(queries.Filters(as_of=today - DAY, **kwargs), "code")]

    assert codes() == ["SS050", "SS051"]
    assert codes(q="胆囊") == ["SS050"] and codes(q="ss05") == ["SS050", "SS051"] and codes(q="_") == ["SS051"]
    assert codes(q="nss051") == ["SS051"]
    assert codes(flags={"minimally_invasive": "1"}) == ["SS050"]
    assert codes(flags={"restricted": "1"}) == []  # restricted only since today
    assert codes(flags={"restricted": "0"}) == ["SS050", "SS051"]
    assert codes(department_id=tree.surgery.id) == ["SS050"]
    assert codes(department_id=tree.orthopaedics.id) == []
    assert codes(category="interventional", grade=2, status="active") == ["SS051"]
    assert [e.code for e in queries.as_of_entries(queries.Filters(as_of=today - DAY), "grade", True)] == [
        "SS050", "SS051"]
    now = [e.code for e in queries.as_of_entries(queries.Filters(as_of=today, department_id=tree.cardiology.id))]
    assert now == ["SS050", "SS051"]


def test_diff_between_revisions_reads_chinese_labels(session, tree):
    tech = make_tech("SS004", "冠状动脉造影术", category="interventional", departments=[tree.cardiology])
    catalogue.update_technology(tech, {"grade": 4, "restricted": True}, [tree.cardiology.id, tree.surgery.id],
                                reason="纳入限制类")
    changes = {c.label: (c.before, c.after) for c in catalogue.diff_states(catalogue.revision(tech.id, 1).data,
                                                                           catalogue.revision(tech.id, 2).data)}
    assert changes["手术等级"] == ("二级", "四级")
    assert changes["限制类技术"] == ("否", "是")
    assert changes["可开展科室"][1] == "、".join(sorted([f"心内科（{tree.cardiology.code}）",
                                                     f"普外科（{tree.surgery.code}）"],
                                                    key=lambda s: s[s.index("（"):]))
    assert "类别" not in changes


def test_bulk_actions_write_one_revision_per_changed_entry_and_one_audit(session, tree):
    a = make_tech("SS010", "甲", departments=[tree.surgery])
    b = make_tech("SS011", "乙")
    c = make_tech("SS012", "丙")
    catalogue.set_status(c, "disabled", reason="先停")
    before = db.session.scalar(select(func.count()).select_from(AuditLog))
    result = catalogue.bulk_set_status([a.id, b.id, c.id], "disabled", reason="年度清理")
    db.session.commit()
    assert (sorted(result.changed), result.unchanged) == (["SS010", "SS011"], 1)
    assert [revision_numbers(t.id) for t in (a, b, c)] == [[1, 2], [1, 2], [1, 2]]
    assert catalogue.revision(a.id, 2).source == "bulk"
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == before + 1
    result = catalogue.bulk_departments([a.id, b.id], add=[tree.cardiology.id], reason="心内可开展")
    assert sorted(result.changed) == ["SS010", "SS011"]
    assert [d.code for d in a.departments] == sorted([tree.surgery.code, tree.cardiology.code])
    result = catalogue.bulk_departments([a.id, b.id], remove=[tree.surgery.id], reason="普外不再开展")
    assert (result.changed, result.unchanged) == (["SS010"], 1)
    with pytest.raises(ServiceError, match="请先勾选"):
        catalogue.bulk_set_status([], "active", reason="x")


# --- pages ----------------------------------------------------------------------------------------------------

def test_list_search_and_filters(client, tree, ma):
    make_tech("SS100", "腹腔镜下胆囊切除术", grade=3, minimally_invasive=True, departments=[tree.surgery])
    make_tech("ss101", "冠状动脉支架植入术", grade=4, category="interventional", perf_grade4=True,
              departments=[tree.cardiology])
    t = make_tech("SS102", "放射性粒子植入术", grade=4, category="interventional", restricted=True)
    catalogue.set_status(t, "disabled", reason="暂停")
    db.session.commit()
    client.login("yiwu_cat")

    def codes(query: str) -> list[str]:
        response = client.get("/catalogue/technologies?" + query)
        assert response.status_code == 200, text_of(response)[:300]
        return [c for c in ("SS100", "SS101", "SS102") if f">{c}</a>" in response.get_data(as_text=True)]

    assert codes("") == ["SS100", "SS101", "SS102"]
    assert codes("q=胆囊") == ["SS100"]
    assert codes("q=nss101") == ["SS101"]  # national code, any case
    assert codes("q=ss10") == ["SS100", "SS101", "SS102"]
    assert codes("grade=4") == ["SS101", "SS102"]
    assert codes("category=interventional&status=active") == ["SS101"]
    assert codes("restricted=1") == ["SS102"]
    assert codes("perf_grade4=1") == ["SS101"]
    assert codes("minimally_invasive=0") == ["SS101", "SS102"]
    assert codes(f"department_id={tree.cardiology.id}") == ["SS101"]
    assert codes("status=disabled") == ["SS102"]
    page = client.get("/catalogue/technologies?sort=-code").get_data(as_text=True)
    assert page.index(">SS102<") < page.index(">SS100<")
    # htmx asks for the rows only.
    part = client.htmx_get("/catalogue/technologies?q=胆囊")
    assert "<html" not in part.get_data(as_text=True) and "SS100" in part.get_data(as_text=True)
    # Bad query strings are a 400 with a Chinese message, never a 500.
    for bad in ("grade=9", "category=x", "as_of=2026-13-01", "restricted=2", "sort=nope",
                f"as_of={(local_today() + DAY).isoformat()}"):
        response = client.get("/catalogue/technologies?" + bad)
        assert response.status_code == 400, bad


def test_list_as_of_a_date_shows_the_old_state(client, tree, ma):
    today = local_today()
    tech = make_tech("SS200", "全髋关节置换术", grade=3, when=local_day_bounds(today - 30 * DAY)[0])
    catalogue.update_technology(tech, {"name": "人工全髋关节置换术", "grade": 4}, None, reason="更名")
    db.session.commit()
    client.login("yiwu_cat")
    old = client.get(f"/catalogue/technologies?as_of={(today - 7 * DAY).isoformat()}")
    body = text_of(old)
    assert old.status_code == 200 and "全髋关节置换术" in body and "人工全髋关节置换术" not in body
    assert "三级" in body and "历史状态只读" in body
    assert 'name="ids"' not in old.get_data(as_text=True)  # no bulk actions on the past
    assert "人工全髋关节置换术" in text_of(client.get("/catalogue/technologies"))
    before = client.get(f"/catalogue/technologies?as_of={(today - 60 * DAY).isoformat()}")
    assert "SS200" not in text_of(before)


def test_detail_timeline_revision_and_diff_pages(client, tree, ma):
    tech = make_tech("SS300", "胃大部切除术", grade=3, departments=[tree.surgery])
    catalogue.update_technology(tech, {"grade": 4, "perf_grade4": True}, None, reason="纳入四级")
    db.session.commit()
    client.login("yiwu_cat")
    detail = client.get(f"/catalogue/technologies/{tech.id}")
    body = text_of(detail)
    assert detail.status_code == 200 and "第 2 版" in body and "纳入四级" in body
    assert "手术等级：三级 → 四级" in body and "绩效考核四级手术：否 → 是" in body
    past = text_of(client.get(f"/catalogue/technologies/{tech.id}/revisions/1"))
    assert "第 1 版" in past and "三级" in past
    diff = text_of(client.get(f"/catalogue/technologies/{tech.id}/diff?a=2&b=1"))
    assert "手术等级 三级 四级" in diff and "类别" not in diff.split("修改后", 1)[1]
    assert client.get(f"/catalogue/technologies/{tech.id}/revisions/9").status_code == 404
    assert client.get(f"/catalogue/technologies/{tech.id}/diff?a=1&b=x").status_code == 400
    assert client.get("/catalogue/technologies/999999").status_code == 404


def test_create_edit_and_disable_through_the_pages(client, tree, ma):
    client.login("yiwu_cat")
    form = {"code": "ss400", "name": "经皮椎体成形术", "category": "surgery", "grade": "3",
            "minimally_invasive": "y", "department_ids": [str(tree.orthopaedics.id)], "prerequisites": "yszyz、ZC",
            "reason": "新增条目"}
    created = client.submit("/catalogue/technologies/new", form)
    assert created.status_code == 303
    tech = db.session.scalar(select(Technology).where(Technology.code == "SS400"))
    assert tech.prerequisites == ["YSZYZ", "ZC"] and tech.minimally_invasive
    duplicate = client.submit("/catalogue/technologies/new", form)
    assert duplicate.status_code == 422 and "院内编码 SS400 已存在" in text_of(duplicate)
    bad = client.submit("/catalogue/technologies/new", {**form, "code": "SS401", "grade": "7", "name": ""})
    assert bad.status_code == 422 and "请填写技术名称" in text_of(bad)
    edit = client.submit(f"/catalogue/technologies/{tech.id}/edit", {**form, "grade": "4", "revision": "1",
                                                                     "reason": "升级"})
    assert edit.status_code == 303
    stale = client.submit(f"/catalogue/technologies/{tech.id}/edit", {**form, "grade": "2", "revision": "1",
                                                                      "reason": "旧页面"})
    assert stale.status_code == 409 and "已被他人修改" in text_of(stale)
    no_reason = client.submit(f"/catalogue/technologies/{tech.id}/status", {"status": "disabled", "reason": ""})
    assert no_reason.status_code == 422 and "请填写启用或停用的原因" in text_of(no_reason)
    stale_status = client.submit(f"/catalogue/technologies/{tech.id}/status", {"status": "disabled",
                                                                               "reason": "旧页面", "revision": "1"})
    assert stale_status.status_code == 409 and "当前为第 2 版" in text_of(stale_status)
    disabled = client.submit(f"/catalogue/technologies/{tech.id}/status", {"status": "disabled", "reason": "停止"})
    assert disabled.status_code == 303
    tech = db.session.get(Technology, tech.id)
    assert (tech.status, tech.revision, tech.grade) == ("disabled", 3, 4)


def test_bulk_disable_and_departments_through_the_list(client, tree, ma):
    a = make_tech("SS500", "甲术")
    b = make_tech("SS501", "乙术")
    client.login("yiwu_cat")
    no_reason = client.submit("/catalogue/technologies/bulk", {"ids": [a.id, b.id], "action": "disable",
                                                               "reason": ""}, htmx=True)
    assert no_reason.status_code == 422 and "请填写原因" in text_of(no_reason)
    none = client.submit("/catalogue/technologies/bulk", {"action": "disable", "reason": "x"}, htmx=True)
    assert none.status_code == 422 and "请先勾选" in text_of(none)
    done = client.submit("/catalogue/technologies/bulk", {"ids": [a.id, b.id], "action": "disable",
                                                          "reason": "清理", "back": "q=术"}, htmx=True)
    assert done.status_code == 204 and done.headers["HX-Redirect"] == "/catalogue/technologies?q=术"
    assert "已停用 2 条" in text_of(client.get("/catalogue/technologies"))
    no_dept = client.submit("/catalogue/technologies/bulk", {"ids": [a.id], "action": "add_departments",
                                                             "reason": "x"}, htmx=True)
    assert no_dept.status_code == 422 and "请选择要增加或移除的科室" in text_of(no_dept)
    added = client.submit("/catalogue/technologies/bulk", {"ids": [a.id, b.id], "action": "add_departments",
                                                           "department_ids": [tree.surgery.id], "reason": "普外开展"})
    assert added.status_code == 303
    a, b = db.session.get(Technology, a.id), db.session.get(Technology, b.id)
    assert [d.id for d in a.departments] == [tree.surgery.id] and b.revision == 3


def test_export_round_trip_and_as_of_export(client, tree, ma):
    make_tech("SS600", "=HYPERLINK(\"x\")术", grade=4, perf_grade4=True, departments=[tree.surgery, tree.cardiology])
    make_tech("SS601", "宫颈环形电切术", grade=1, day_surgery=True)
    client.login("yiwu_cat")
    response = client.get("/catalogue/technologies/export?grade=4")
    assert response.status_code == 200
    content = response.get_data()
    sheet = load_workbook(io.BytesIO(content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert "等级：四级" in str(values[1][0])  # the filters line
    assert [row[0] for row in values[3:]] == ["SS600"]
    # The exported file imports back unchanged.
    result = imports.preview("technology", "export.xlsx", content)
    assert result.counts["invalid"] == 0 and result.counts["updated"] == 1
    assert result.comparison == {"changed": 0, "unchanged": 1, "rows": []}
    past = client.get(f"/catalogue/technologies/export?as_of={local_today().isoformat()}")
    assert past.status_code == 200
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(past.get_data())).active.iter_rows()]
    assert sorted(r[0] for r in rows[3:]) == ["SS600", "SS601"]


def test_department_page_counts_by_grade_and_category(client, tree, ma):
    make_tech("SS700", "甲", grade=3, departments=[tree.surgery])
    make_tech("SS701", "乙", grade=4, category="endoscopy", departments=[tree.surgery], perf_grade4=True)
    off = make_tech("SS702", "丙", grade=4, departments=[tree.surgery])
    catalogue.set_status(off, "disabled", reason="停")
    make_tech("SS703", "丁", grade=2, departments=[tree.cardiology])
    db.session.commit()
    summary = queries.department_summary(tree.surgery)
    assert summary.total == 2 and summary.by_grade == {1: 0, 2: 0, 3: 1, 4: 1}
    assert summary.grid == {(3, "surgery"): 1, (4, "endoscopy"): 1} and summary.flagged["perf_grade4"] == 1
    client.login("yiwu_cat")
    page = client.get(f"/catalogue/departments?department_id={tree.surgery.id}")
    body = text_of(page)
    assert page.status_code == 200 and "SS700" in body and "SS701" in body and "SS702" not in body
    # Every count opens exactly its rows.
    html = page.get_data(as_text=True)
    link = f"/catalogue/departments?department_id={tree.surgery.id}&amp;grade=4&amp;category=endoscopy"
    assert link in html
    cell = text_of(client.get(link.replace("&amp;", "&")))
    assert "SS701" in cell and "SS700" not in cell
    assert client.get(f"/catalogue/departments?department_id={tree.surgery.id}&category=x").status_code == 400


def test_department_head_may_view_but_not_manage(client, tree):
    tech = make_tech("SS800", "甲", departments=[tree.cardiology])
    make_user("head_cat", ["dept_head"], tree.cardiology)
    client.login("head_cat")
    assert client.get("/catalogue/technologies").status_code == 200
    assert client.get(f"/catalogue/technologies/{tech.id}").status_code == 200
    own = client.get("/catalogue/departments")
    assert own.status_code == 200 and "心内科" in text_of(own) and "SS800" in text_of(own)
    assert client.get(f"/catalogue/departments?department_id={tree.orthopaedics.id}").status_code == 404
    list_page = client.get("/catalogue/technologies").get_data(as_text=True)
    assert "新增条目" not in list_page and 'name="ids"' not in list_page
    assert client.get("/catalogue/technologies/new").status_code == 403
    assert client.submit(f"/catalogue/technologies/{tech.id}/status", {"status": "disabled",
                                                                        "reason": "x"}).status_code == 403
    assert client.submit("/catalogue/technologies/bulk", {"ids": [tech.id], "action": "disable",
                                                          "reason": "x"}).status_code == 403
    assert client.get("/imports/technology").status_code == 403
    tech = db.session.get(Technology, tech.id)
    assert tech.status == "active" and tech.revision == 1


def test_anonymous_goes_to_login(client):
    response = client.get("/catalogue/technologies")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_home_panel_counts_this_months_changes_and_disabled(client, tree, ma):
    tech = make_tech("SS900", "甲", when=datetime.now(UTC) - timedelta(days=400))
    catalogue.set_status(tech, "disabled", reason="停止开展")
    db.session.commit()
    client.login("yiwu_cat")
    part = client.htmx_get("/panels/catalogue.changes")
    body = text_of(part)
    assert part.status_code == 200 and "1 已停用" in body and "1 本月修订的条目" in body
    assert "SS900 甲 第 2 版" in body and "停止开展" in body


def test_list_and_as_of_pages_issue_the_same_queries_for_few_or_many_rows(client, tree, ma):
    def add(start: int, n: int) -> None:
        for i in range(start, start + n):
            tech = make_tech(f"SQ{i:03d}", f"术式{i}", departments=[tree.surgery, tree.cardiology])
            catalogue.update_technology(tech, {"grade": 3}, None, reason="调整")
        db.session.commit()

    def queries_of(url: str) -> int:
        with statements() as seen:
            assert client.get(url).status_code == 200
        return len(seen)

    client.login("yiwu_cat")
    today = local_today().isoformat()
    urls = ["/catalogue/technologies", f"/catalogue/technologies?as_of={today}",
            f"/catalogue/departments?department_id={tree.surgery.id}"]
    add(0, 2)
    for url in urls:
        queries_of(url)  # caches filled
    few = [queries_of(url) for url in urls]
    add(2, 18)
    assert [queries_of(url) for url in urls] == few


def test_as_of_reads_the_entry_and_start_index(session, tree):
    """On PostgreSQL the state as of a day is read from the (technology_id, valid_from) index, newest first."""
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    tech = make_tech("IX001", "甲")
    stmt = (select(TechnologyRevision).where(TechnologyRevision.technology_id == tech.id,
                                             TechnologyRevision.valid_from < catalogue.end_of(local_today()))
            .order_by(TechnologyRevision.valid_from.desc(), TechnologyRevision.revision.desc()).limit(1))
    compiled = stmt.compile(dialect=db.session.get_bind().dialect)
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
    connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
    assert "ix_technology_revisions_valid_from" in plan, plan
