"""Capability pages and reports (能力展示) on a hand-built hospital: grade coverage, restricted and new
technologies only by their own privilege, suspended and expired privileges left out, department aggregation,
drill-downs that list exactly the counted rows, department scoping (404 outside), the export as shown, and the
SQL coverage rule agreeing with the privilege check HIS calls."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook

from portal.catalogue.models.technologies import Technology, TechnologyDepartment
from portal.core.timeutil import local_today
from portal.credentials.capability import queries
from portal.credentials.models.privileges import Privilege
from portal.credentials.privileges import check
from portal.extensions import db
from tests.factories import make_staff, make_user
from tests.sqlcount import statements

TODAY = local_today()


def tech(code, grade, category="surgery", departments=(), **flags) -> Technology:
    item = Technology(code=code, name=f"技术{code}", category=category, grade=grade, prerequisites=[], **flags)
    db.session.add(item)
    db.session.flush()
    for dept in departments:
        db.session.add(TechnologyDepartment(technology_id=item.id, department_id=dept.id))
    return item


def grant(staff, *, grade=None, categories="", technology=None, order=True, perform=True, start=-30, end=300,
          status="active") -> Privilege:
    record = Privilege(staff_id=staff.id, kind="technology" if technology else "grade", grade=grade,
                       categories=categories, technology_id=technology.id if technology else None,
                       can_order=order, can_perform=perform, valid_from=TODAY + timedelta(days=start),
                       valid_to=TODAY + timedelta(days=end), status=status, action="apply", source="manual")
    db.session.add(record)
    db.session.flush()
    return record


@pytest.fixture
def world(app, tree):
    app.extensions.pop("privilege_check_cache", None)  # generations repeat across rolled-back tests
    ma = make_user("cap_ma", ["ma_admin", "ma_staff"], tree.hospital, name="医务科王")
    head = make_user("cap_head", ["dept_head"], tree.cardiology, name="心内张主任")
    doc = make_user("cap_doc", ["clinician"], tree.cardiology, name="心内刘医生")
    b = make_staff("心内陈医生", tree.cardiology)
    c = make_staff("病区赵医生", tree.cardiology_ward)
    d = make_staff("普外孙医生", tree.surgery)
    a = doc.staff
    t = {
        "t1": tech("CAP-T1", 2, departments=(tree.cardiology,)),
        "t2": tech("CAP-T2", 3, departments=(tree.cardiology,)),
        "t3": tech("CAP-T3", 4, "interventional"),
        "t4": tech("CAP-T4", 2, "endoscopy"),
        "r": tech("CAP-R", 3, departments=(tree.cardiology,), restricted=True),
        "n": tech("CAP-N", 2, departments=(tree.cardiology,), new_tech=True),
        "off": tech("CAP-OFF", 1, status="disabled"),
    }
    p = {
        "a_grade": grant(a, grade=3, categories="surgery"),  # T1, T2; never R or N
        "a_r": grant(a, technology=t["r"], order=False),  # R by its own privilege, performing only
        "b_suspended": grant(b, grade=4, status="suspended"),
        "b_expired": grant(b, grade=2, categories="surgery,endoscopy", start=-400, end=-1),
        "c_endo": grant(c, grade=2, categories="endoscopy", end=30),  # expiring within 90 days
        "d_all": grant(d, grade=4),  # every category, grade 4 and below; still not R or N
    }
    db.session.commit()
    return {"ma": ma, "head": head, "doc": doc, "a": a, "b": b, "c": c, "d": d, "t": t, "p": p, "tree": tree}


def performable(staff, right="perform") -> set[str]:
    rows = db.session.execute(queries.performable_query(staff.id, TODAY)).all()
    return {r.code for r in rows if (r.can_perform if right == "perform" else r.can_order)}


def links_of(response) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', response.get_data(as_text=True))]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def table_rows(response) -> list[list[str]]:
    body = response.get_data(as_text=True)
    table = body[body.index('<table class="data report"'):body.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table[table.index("<tbody>"):], re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r,
                                                                                   re.S)] for r in rows]


def drill_total(client, url: str) -> int:
    body = client.get(url).get_data(as_text=True)
    found = re.search(r"共 (\d+) 条", body)
    return int(found.group(1)) if found else 0


# --- the rule --------------------------------------------------------------------------------------------------

def test_grade_covers_ordinary_entries_only_and_lapsed_privileges_count_for_nothing(world):
    t = world["t"]
    assert performable(world["a"]) == {"CAP-T1", "CAP-T2", "CAP-R"}
    assert performable(world["a"], "order") == {"CAP-T1", "CAP-T2"}  # R was granted for performing only
    assert performable(world["b"]) == set()  # suspended and expired
    assert performable(world["c"]) == {"CAP-T4"}
    assert performable(world["d"]) == {"CAP-T1", "CAP-T2", "CAP-T3", "CAP-T4"}  # no R, N; no disabled entry
    names = {r.name for r in db.session.execute(queries.performers_query(t["r"], world["ma"].principal, TODAY))}
    assert names == {"心内刘医生"}
    performers = db.session.execute(queries.performers_query(t["t2"], world["ma"].principal, TODAY)).all()
    assert {r.name for r in performers} == {"心内刘医生", "普外孙医生"}
    # Tomorrow-after-the-end: C's endoscopy privilege ends in 30 days.
    later = db.session.execute(queries.performable_query(world["c"].id, TODAY + timedelta(days=31))).all()
    assert later == []


def test_the_sql_rule_agrees_with_the_check_his_calls(world):
    """Wherever the check decides on privileges (not on department, catalogue status or prerequisites), the
    capability lists and the check give the same answer, for every person, entry and right."""
    staff = [world[k] for k in ("a", "b", "c", "d")]
    compared = 0
    for person in staff:
        for right in ("perform", "order"):
            listed = performable(person, right)
            for item in world["t"].values():
                decision = check.check(person.employee_no, item.code, right, TODAY)
                if decision.allowed or (decision.missing or {}).get("type") == "privilege":
                    assert (item.code in listed) == decision.allowed, (person.name, item.code, right, decision)
                    compared += 1
    assert compared >= 30


# --- pages -----------------------------------------------------------------------------------------------------

def test_person_page_shows_qualifications_privileges_expiring_and_what_may_be_performed(client, world):
    client.login("cap_ma")
    body = client.get(f"/credentials/capability/people/{world['c'].id}").get_data(as_text=True)
    assert "病区赵医生的能力" in body and "90 天内到期（1）" in body
    assert "可开展技术 <span class=\"count\">（1）" in body
    assert "手术开展情况与质量结局" in body and "没有本人主刀的手术记录" in body
    body = client.get(f"/credentials/capability/people/{world['a'].id}").get_data(as_text=True)
    assert "分级授权（1）" in body and "单项技术授权（1）" in body and "（3）" in body
    rows = client.htmx_get(f"/credentials/capability/technologies?staff_id={world['a'].id}&q=cap-r")
    text = rows.get_data(as_text=True)
    assert rows.status_code == 200 and "<html" not in text and "CAP-R" in text and "CAP-T1" not in text
    assert "限制类" in text


def test_department_page_aggregates_and_links_to_each_person(client, world):
    client.login("cap_head")
    tree = world["tree"]
    response = client.get(f"/credentials/capability/departments?department_id={tree.cardiology.id}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    # Allowed for cardiology: T1, T2, R, N; performers today for T1, T2 (A's grade 3) and R (A's own).
    assert re.search(r"covered=1\">3</a> / <a [^>]+>4</a>", body)
    staff = client.htmx_get(f"/credentials/capability/department-staff?department_id={tree.cardiology.id}")
    rows = staff.get_data(as_text=True)
    for person in ("a", "b", "c"):
        assert f"/credentials/capability/people/{world[person].id}" in rows
    assert world["d"].name not in rows
    got = {r.name: (r.highest_grade, r.technologies) for r in
           db.session.execute(queries.staff_query(tree.cardiology.id, TODAY))}
    assert got["心内刘医生"] == (3, 1) and got["心内陈医生"] == (None, 0) and got["病区赵医生"] == (2, 0)
    uncovered = client.get(f"/credentials/capability/department-technologies?department_id={tree.cardiology.id}"
                           "&covered=0").get_data(as_text=True)
    assert "CAP-N" in uncovered and "CAP-T1" not in uncovered
    # The expiring privileges (C's, in the ward) link to the privilege list showing exactly those.
    ending = next(u for u in links_of(response) if u.startswith("/credentials/privileges?") and "ending=90" in u)
    listed = client.get(ending).get_data(as_text=True)
    assert re.search(r'id="list-count" class="count">（1）', listed) and "病区赵医生" in listed
    assert re.search(r'ending=90">1</a> 条', body)
    # Grade x category cells link to the report's rows with exactly as many rows.
    cell_links = [u for u in links_of(response) if u.startswith("/reports/cap_grade_category/rows")]
    assert cell_links
    for url in cell_links:
        args = query_of(url)
        if args.get("k_grade") == "3" and args.get("k_category") == "surgery" and args["column"] == "privileges":
            assert drill_total(client, url) == 2  # A's grade 3 privilege and R (a grade 3 surgery)


def test_catalogue_entry_links_to_its_performers_in_scope(client, world):
    client.login("cap_head")
    t2 = world["t"]["t2"]
    detail = client.get(f"/catalogue/technologies/{t2.id}").get_data(as_text=True)
    assert f"/credentials/capability/performers?technology_id={t2.id}" in detail
    body = client.get(f"/credentials/capability/performers?technology_id={t2.id}").get_data(as_text=True)
    assert "心内刘医生" in body and "普外孙医生" not in body  # a department head sees their departments only
    client.login("cap_ma")
    body = client.get(f"/credentials/capability/performers?technology_id={t2.id}").get_data(as_text=True)
    assert "心内刘医生" in body and "普外孙医生" in body


def test_scoping_404_outside_and_the_clinician_sees_their_own_page(client, world):
    tree = world["tree"]
    client.login("cap_head")
    assert client.get(f"/credentials/capability/people/{world['d'].id}").status_code == 404
    assert client.get(f"/credentials/capability/departments?department_id={tree.surgery.id}").status_code == 404
    assert client.get(f"/credentials/capability/department-staff?department_id={tree.surgery.id}").status_code == 404
    assert client.get("/credentials/capability/people/999999").status_code == 404
    client.login("cap_doc")
    assert client.get("/credentials/capability/me").status_code == 200
    assert client.get(f"/credentials/capability/people/{world['a'].id}").status_code == 200
    assert client.get(f"/credentials/capability/people/{world['b'].id}").status_code == 404
    assert client.get(f"/credentials/capability/technologies?staff_id={world['b'].id}").status_code == 404
    assert client.get("/credentials/capability/departments").status_code == 403
    assert client.get("/reports/cap_department_privileges").status_code == 403
    anonymous = client.application.test_client()
    assert anonymous.get("/credentials/capability/me").status_code in (302, 303)


# --- reports ---------------------------------------------------------------------------------------------------

def test_department_report_figures_drill_to_exactly_the_counted_rows(client, world):
    tree = world["tree"]
    client.login("cap_ma")
    response = client.get("/reports/cap_department_privileges")
    assert response.status_code == 200
    rows = {r[0]: r for r in table_rows(response)}
    header = ["科室", "授权人数", "有效授权（条）", "一级（条）", "二级（条）", "三级（条）", "四级（条）",
              "单项技术（条）", "限制类/新技术（条）", "90天内到期（条）"]
    assert rows["心内科"][1:] == ["1", "2", "0", "0", "2", "0", "1", "1", "0"]
    assert rows["心内病区"][1:] == ["1", "1", "0", "1", "0", "0", "0", "0", "1"]
    assert rows["普外科"][1:] == ["1", "1", "0", "0", "0", "1", "0", "0", "0"]
    assert rows["合计"][1:3] == ["3", "4"]
    assert len(header) == len(rows["心内科"])
    links = [u for u in links_of(response) if u.startswith("/reports/cap_department_privileges/rows")]
    assert len(links) >= 12
    texts = table_rows(response)
    names = {str(tree.cardiology.id): "心内科", str(tree.cardiology_ward.id): "心内病区",
             str(tree.surgery.id): "普外科"}
    for url in links:
        args = query_of(url)
        column = args["column"]
        total = drill_total(client, url)
        dept = args.get("k_department_id")
        row = next(r for r in texts if r[0] == ("合计" if dept is None else names[dept]))
        key_index = {"holders": 1, "privileges": 2, "grade1": 3, "grade2": 4, "grade3": 5, "grade4": 6,
                     "technology": 7, "own_only": 8, "expiring": 9}[column]
        assert total == int(row[key_index]), (url, row)
    # A filter narrows the rows and their drill-downs alike.
    filtered = {r[0]: r for r in table_rows(client.get("/reports/cap_department_privileges?category=endoscopy"))}
    assert set(filtered) == {"心内病区", "普外科", "合计"}
    # One restricted technology: its holders only; an ordinary entry is not a choice (400).
    own = {r[0]: r for r in table_rows(client.get("/reports/cap_department_privileges?technology=CAP-R"))}
    assert set(own) == {"心内科", "合计"} and own["心内科"][1:3] == ["1", "1"]
    assert client.get("/reports/cap_department_privileges?technology=CAP-T1").status_code == 400


def test_department_head_sees_their_departments_and_the_export_matches_the_page(client, world):
    client.login("cap_head")
    response = client.get("/reports/cap_department_privileges")
    shown = table_rows(response)
    assert {r[0] for r in shown} == {"心内科", "心内病区", "合计"}
    export = client.get("/reports/cap_department_privileges/export")
    assert export.status_code == 200
    values = list(load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(values) if r[0] == "科室") + 1
    body = [r for r in values[start:] if r[0]]
    assert [r[0] for r in body] == [r[0] for r in shown]
    assert [[int(v or 0) for v in r[1:10]] for r in body] == [[int(v) for v in r[1:10]] for r in shown]
    assert '<table class="data report"' not in client.get("/reports/cap_person_privileges").get_data(as_text=True)
    person = table_rows(client.get(f"/reports/cap_person_privileges?department_id={world['tree'].cardiology.id}"))
    assert {r[1] for r in person if r[0] != "合计"} == {f"心内刘医生（{world['a'].employee_no}）",
                                                        f"病区赵医生（{world['c'].employee_no}）"}
    outside = client.get(f"/reports/cap_department_privileges?department_id={world['tree'].surgery.id}")
    # Another department through the filter: the kit's scope leaves nothing (the rows are not there).
    assert outside.status_code == 200 and '<table class="data report"' not in outside.get_data(as_text=True)


def test_grade_category_report_counts_grade_privileges_in_each_category(client, world):
    client.login("cap_ma")
    rows = {(r[0], r[1]): r for r in table_rows(client.get("/reports/cap_grade_category")) if r[0] != "合计"}
    # D's grade 4 without categories counts in every category; A's grade 3 surgery plus R in surgery.
    assert rows[("四级", "介入")][2:] == ["1", "1"]
    assert rows[("三级", "手术")][2:] == ["1", "2"]
    assert rows[("二级", "内镜")][2:] == ["1", "1"]
    assert ("四级", "手术") in rows and ("三级", "内镜") not in rows


# --- cost at hospital scale: statements per page, the list's index ------------------------------------------------

def test_capability_pages_issue_a_fixed_number_of_statements_whatever_the_data(client, world):
    """Counts travel with their first rows (count(*) OVER ()), study hours of both years come in one query, and
    nothing is read per person or per privilege: more people and privileges, the same statements."""
    tree = world["tree"]
    client.login("cap_ma")
    person = f"/credentials/capability/people/{world['a'].id}"
    department = f"/credentials/capability/departments?department_id={tree.cardiology.id}"

    def costs() -> tuple[int, int]:
        found = []
        for url in (person, department):
            client.get(url)  # warm: the session's first request reads more
            with statements() as seen:
                assert client.get(url).status_code == 200
            found.append(sum(1 for x in seen if x.lstrip().upper().startswith(("SELECT", "WITH"))))
        return found[0], found[1]

    before = costs()
    t = world["t"]
    for n in range(6):
        extra = make_staff(f"心内新医生{n}", tree.cardiology)
        grant(extra, grade=2, categories="surgery", end=20)  # expiring within 90 days: in the department's list
        grant(extra, technology=t["r"])
        grant(world["a"], technology=t["t3" if n % 2 else "t4"], end=40 + n)
    db.session.commit()
    assert costs() == before
    person_cost, department_cost = before
    assert person_cost <= 11 and department_cost <= 9, before
    body = client.get(department).get_data(as_text=True)
    # C's, the six new grades and A's six technologies: the count beside its first ten rows
    assert re.search(r'ending=90">13</a> 条', body) and "全部 13 条" in body
    assert body.count("心内新医生") >= 6


def test_expiring_lists_count_exactly_the_rows_of_the_list_they_link_to(world):
    from portal.credentials.privileges import queries as privilege_queries

    tree, ma = world["tree"], world["ma"]
    for n in range(12):
        grant(make_staff(f"病区新医生{n}", tree.cardiology_ward), grade=1, end=10 + n)
    db.session.commit()
    total, first = queries.expiring_privileges(ma.principal, tree.cardiology.id, TODAY)
    listed = list(db.session.scalars(privilege_queries.list_query(
        ma.principal, privilege_queries.Filters(department_id=tree.cardiology.id, ending_days=90), TODAY)))
    assert total == len(listed) == 13 and [p.id for p in first] == [p.id for p in listed[:10]]
    total, first = queries.expiring_qualifications(ma.principal, tree.surgery.id, TODAY)
    assert (total, first) == (0, [])


@pytest.fixture
def postgres(session):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the planner's choice of index is PostgreSQL's")


def test_privilege_list_pages_read_its_order_from_an_index(postgres, world):
    """The list (nearest end first) walks ix_privileges_valid_to_id instead of sorting every privilege."""
    from portal.credentials.privileges import queries as privilege_queries

    stmt = privilege_queries.list_query(world["ma"].principal, privilege_queries.Filters(), TODAY).limit(20)
    compiled = stmt.compile(dialect=db.session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    connection.exec_driver_sql("SET LOCAL enable_sort = off")  # as on 50,000 privileges: a sort of all of them
    try:
        plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
    finally:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
        connection.exec_driver_sql("SET LOCAL enable_sort = on")
    assert "ix_privileges_valid_to_id" in plan, plan


def test_technology_choices_are_kept_until_the_catalogue_changes(client, world):
    client.login("cap_ma")

    def offered() -> bool:
        return 'value="CAP-NEW"' in client.get("/reports/cap_department_privileges").get_data(as_text=True)

    assert 'value="CAP-R"' in client.get("/reports/cap_department_privileges").get_data(as_text=True)
    assert not offered()
    added = tech("CAP-NEW", 2, new_tech=True)
    db.session.commit()
    assert offered()  # the next page after the catalogue changed lists it
    db.session.get(Technology, added.id).new_tech = False  # (the request ended the test's session)
    db.session.commit()
    assert not offered()
