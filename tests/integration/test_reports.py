"""The report registry: declarations checked at registration, filters in the URL, scope by permission,
totals, drill-down links, period comparisons, the export with its chart, the archive job, bad input."""

from __future__ import annotations

import html
import io
import os
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook
from rq import SimpleWorker
from sqlalchemy import func, select

import jobs
from jobs.reports import archive_monthly_reports, generate_report
from portal.auth.models import Staff
from portal.auth.permissions import VIEW_STAFF
from portal.casemgmt.ledger import services as ledger
from portal.core.audit import AuditLog
from portal.core.redis_conn import get_queue
from portal.extensions import db
from portal.reports import registry, services
from portal.reports.models import ReportRun
from portal.reports.registry import Chart, Column, Drill, Report, ReportDeclarationError
from tests.conftest import text_of
from tests.factories import make_staff, make_user
from tests.integration import test_casemgmt_ledger as ledger_tests
from tests.integration.test_casemgmt_ledger import MONTH, serve

world = ledger_tests.world  # the ledger tests' fixture: two case managers, a supervisor, five patients

STAFF_REPORT = Report(
    code="test_staff_by_department", title="人员按科室统计", permission=VIEW_STAFF,
    query=lambda params: (select(Staff.department_id.label("department_id"), func.count(Staff.id).label("people"))
                          .group_by(Staff.department_id).order_by(Staff.department_id)),
    columns=(Column("department_id", "科室", fmt="text", key_type=int), Column("people", "人数")),
    definition="人数 = 人员档案数。", department_column=Staff.department_id,
    chart=Chart("bar", "department_id", ("people",)))


@pytest.fixture
def staff_report():
    registry.register(STAFF_REPORT)
    yield STAFF_REPORT
    registry.REPORTS.pop(STAFF_REPORT.code, None)


def links_of(response) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', response.get_data(as_text=True))]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def table_rows(response) -> list[list[str]]:
    """The report table's body and footer rows as cell texts."""
    body = response.get_data(as_text=True)
    table = body[body.index('<table class="data report"'):body.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table[table.index("<tbody>"):], re.S)
    out = []
    for row in rows:
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        out.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return out


# --- declarations ------------------------------------------------------------------------------------


def _declare(**changes) -> Report:
    fields = {"code": "test_bad", "title": "测试", "permission": VIEW_STAFF, "definition": "测试。",
              "query": STAFF_REPORT.query, "columns": STAFF_REPORT.columns, "department_column": Staff.department_id}
    fields.update(changes)
    return Report(**fields)


@pytest.mark.parametrize("changes, message", [
    ({"columns": (Column("department_id", "科室", fmt="text"), Column("heads", "人数"))}, "column heads is not in"),
    ({"chart": Chart("bar", "department_id", ("missing",))}, "chart column 'missing'"),
    ({"chart": Chart("bar", "people", ("people",))}, "chart x 'people'"),
    ({"columns": (*STAFF_REPORT.columns, Column("rate", "比例", fmt="percent", total="ratio",
                                               ratio=("people", "nobody")))}, "ratio names missing column nobody"),
    ({"columns": (*STAFF_REPORT.columns[:1], Column("people", "人数", fmt="money%"))}, "unknown format"),
    ({"columns": (*STAFF_REPORT.columns, Column("people", "人数"))}, "column keys repeat"),
    ({"department_column": None, "department_filter": False}, "declare department_column or scope"),
    ({"columns": (*STAFF_REPORT.columns[:1], Column("people", "人数", drill=Drill()))}, "needs url or rows"),
    ({"code": "Bad-Code"}, "lower_snake_case"),
])
def test_a_declaration_that_names_something_missing_fails_at_registration(app, changes, message):
    with pytest.raises(ReportDeclarationError, match=re.escape(message)):
        registry.register(_declare(**changes))
    assert "test_bad" not in registry.REPORTS
    registry.validate(_declare())  # the same declaration without the fault is fine


# --- the page, filters, totals, drill-down -------------------------------------------------------------


def _month_of_services(world):
    a, b, c = world.li_patients
    d, _e = world.wang_patients
    for patient, manager, day, outcome, task_type in (
            (a, world.li, 1, "reached", "phone_followup"), (a, world.li, 2, "not_reached", "education"),
            (b, world.li, 3, "reached", "phone_followup"), (c, world.li, 4, "declined", "phone_followup"),
            (d, world.wang, 5, "reached", "education")):
        serve(patient, manager, MONTH + timedelta(days=day - 1), outcome=outcome, task_type=task_type)
    ledger.record_adhoc_service(b, world.li, service_date=MONTH + timedelta(days=9), task_type="phone_followup",
                                outcome="reached", today=MONTH + timedelta(days=10))
    db.session.commit()


def test_report_page_filters_in_the_url_totals_and_drill_down(client, world):
    _month_of_services(world)
    client.login("cm_boss")
    response = client.get("/reports/cm_services_by_type?month=2026-10&source=task")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'hx-push-url="true"' in page and 'value="2026-10"' in page
    assert re.search(r'<option value="task"\s+selected', page)
    assert '<script type="application/json" class="chart-data">' in page and "data-chart" in page
    assert "联系成功率 = 已完成（联系上）的人次 ÷ 服务人次" in text_of(response)  # the definition
    rows = table_rows(response)
    assert rows[0][:3] == ["电话随访", "3", "3"] and rows[1][:3] == ["健康宣教推送", "2", "2"]
    # Totals: 服务人次 adds up; 服务人数 is counted again over all rows (patient a had two service types).
    assert rows[-1][:3] == ["合计", "5", "4"]
    assert rows[0][-1] == "66.7%" and rows[-1][-1] == "60.0%"
    # Every number links to the ledger rows behind it, with the same period and source.
    drills = [u for u in links_of(response) if u.startswith("/casemgmt/ledger?")]
    assert {"month": "2026-10", "source": "task", "task_type": "phone_followup"} in [query_of(u) for u in drills]
    assert {"month": "2026-10", "source": "task", "task_type": "phone_followup", "outcome": "declined"} in [
        query_of(u) for u in drills]
    assert {"month": "2026-10", "source": "task"} in [query_of(u) for u in drills]  # the totals row
    ledger_page = client.get(next(u for u in drills if query_of(u).get("outcome") == "declined"))
    assert "钱*多" in text_of(ledger_page) or "钱" in text_of(ledger_page)
    # The htmx request gets the body only; the adhoc service counts once the source filter is off.
    partial = client.htmx_get("/reports/cm_services_by_type?month=2026-10")
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)
    assert table_rows(partial)[-1][:3] == ["合计", "6", "4"]
    # The swapped body carries the export and archive actions of exactly these filters.
    body = html.unescape(partial.get_data(as_text=True))
    assert 'action="/reports/cm_services_by_type/archive?month=2026-10"' in body
    assert 'href="/reports/cm_services_by_type/export?month=2026-10"' in body


def test_an_empty_month_offers_the_month_before(client, world):
    _month_of_services(world)
    client.login("cm_boss")
    empty = client.get("/reports/cm_services_by_type?month=2026-11&source=task")
    assert "2026年11月" in text_of(empty) and "<table class=\"data report\"" not in empty.get_data(as_text=True)
    found = re.search(r'<div class="empty-state">.*?<a class="button" href="([^"]+)">查看上月</a>',
                      empty.get_data(as_text=True), re.S)
    action = html.unescape(found.group(1))
    assert query_of(action) == {"month": "2026-10", "source": "task"}
    assert table_rows(client.get(action))[-1][:3] == ["合计", "5", "4"]
    assert "查看上月" not in text_of(client.get("/reports/cm_services_by_type?month=2026-10&source=task"))


def test_drill_down_query_lists_the_rows_behind_a_number(client, world):
    _month_of_services(world)
    client.login("cm_boss")
    response = client.get("/reports/cm_services_by_disease?month=2026-10&source=task")
    link = next(u for u in links_of(response) if "/rows?" in u and "k_icd10_code=C34.1" in u
                and "column=services" in u)
    assert query_of(link)["month"] == "2026-10" and query_of(link)["source"] == "task"
    rows = client.get(link)
    assert rows.status_code == 200
    text = text_of(rows)
    assert "（2）" in text and "ZY100" in text and "ZY101" not in text  # a's two task services; b's was ad hoc
    assert client.get(link.replace("k_icd10_code=C34.1", "k_icd10_code=" + "x" * 120)).status_code == 400


def test_report_scope_follows_the_permission(client, tree, staff_report):
    make_staff("甲", tree.cardiology)
    make_staff("乙", tree.cardiology_ward)
    make_staff("丙", tree.orthopaedics)
    make_user("head", ["dept_head"], tree.cardiology)
    make_user("office", ["ma_staff"], tree.surgery)
    make_user("doctor", ["clinician"], tree.cardiology)
    assert client.get("/reports/test_staff_by_department").status_code == 302
    client.login("head")
    rows = table_rows(client.get("/reports/test_staff_by_department"))
    assert {int(r[0]) for r in rows[:-1]} == {tree.cardiology.id, tree.cardiology_ward.id}
    assert rows[-1] == ["合计", "4"]  # 甲, 乙 and the staff records of the head and the doctor
    assert str(tree.orthopaedics.id) not in [r[0] for r in rows]
    # Picking a department outside the scope shows nothing of it.
    outside = client.get(f"/reports/test_staff_by_department?department_id={tree.orthopaedics.id}")
    assert "该期间没有数据" in text_of(outside)
    client.submit("/logout")
    client.login("office")
    rows = table_rows(client.get(f"/reports/test_staff_by_department?department_id={tree.north.id}"))
    # A division covers its departments and their wards.
    assert {int(r[0]) for r in rows[:-1]} == {tree.cardiology.id, tree.cardiology_ward.id, tree.surgery.id}
    client.submit("/logout")
    client.login("doctor")
    assert client.get("/reports/test_staff_by_department").status_code == 403
    assert "人员按科室统计" not in client.get("/reports/").get_data(as_text=True)


def test_case_managers_see_their_own_services_only(client, world):
    _month_of_services(world)
    client.login("cm_wang")
    rows = table_rows(client.get("/reports/cm_services_by_manager?month=2026-10"))
    assert [r[0] for r in rows] == ["王个管", "合计"] and rows[-1][1] == "1"


# --- comparisons -----------------------------------------------------------------------------------------


def test_comparison_with_last_year_and_the_previous_month(client, world):
    _month_of_services(world)
    a = world.li_patients[0]
    for day in (date(2025, 10, 3), date(2025, 10, 4)):
        serve(a, world.li, day, task_type="phone_followup")
    serve(a, world.li, date(2025, 10, 5), task_type="questionnaire")  # only last year: a row of its own
    serve(a, world.li, date(2026, 9, 20), task_type="phone_followup")
    client.login("cm_boss")
    response = client.get("/reports/cm_services_by_type?month=2026-10&source=task&compare=yoy")
    body = response.get_data(as_text=True)
    assert re.search(r'<th scope="colgroup" colspan="3" class="group">服务人次</th>', body)
    labels = re.findall(r'<td data-label="([^"]+)"', body)
    assert labels[:5] == ["服务类型", "服务人次", "服务人次（上年同期）", "服务人次（增减）", "服务人数"]
    rows = {r[0]: r for r in table_rows(response)}
    assert rows["电话随访"][1:4] == ["3", "2", "+50.0%"]
    assert rows["问卷调查"][1:4] == ["0", "1", "-100.0%"]
    assert rows["健康宣教推送"][1:4] == ["2", "0", "—"]
    assert rows["合计"][1:4] == ["5", "3", "+66.7%"]
    assert rows["电话随访"][-3:] == ["66.7%", "100.0%", "-33.3 个百分点"]
    assert "同比（上年同期）" in text_of(response)
    prev = {r[0]: r for r in table_rows(client.get(
        "/reports/cm_services_by_type?month=2026-10&source=task&compare=prev"))}
    assert prev["电话随访"][1:4] == ["3", "1", "+200.0%"]
    # A date range is compared with the range just before it.
    ranged = {r[0]: r for r in table_rows(client.get(
        "/reports/cm_services_by_type?date_from=2026-10-01&date_to=2026-10-02&compare=prev"))}
    assert ranged["合计"][1:3] == ["2", "0"]


# --- export ----------------------------------------------------------------------------------------------


def test_export_holds_the_shown_rows_and_a_native_chart(client, world):
    _month_of_services(world)
    client.login("cm_boss")
    shown = table_rows(client.get("/reports/cm_services_by_type?month=2026-10&compare=prev"))
    response = client.get("/reports/cm_services_by_type/export?month=2026-10&compare=prev")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb.active
    values = list(ws.iter_rows(values_only=True))
    assert values[0][0].endswith("月度服务报表·按服务类型") and "期间：2026年10月" in values[1][0]
    assert values[2][:4] == ("服务类型", "服务人次", "服务人次（上期）", "服务人次（增减）")
    assert [r[0] for r in values[3:]] == [r[0] for r in shown]
    assert [r[1] for r in values[3:]] == [int(r[1]) for r in shown]
    assert values[-1][0] == "合计"
    assert ws["B4"].number_format == "#,##0"
    rate = values[2].index("联系成功率") + 1
    assert ws.cell(row=4, column=rate).number_format == "0.0%"
    assert f"{ws.cell(row=4, column=rate).value:.1%}" == shown[0][rate - 1]
    assert "个百分点" in ws.cell(row=4, column=len(values[2])).number_format
    assert len(ws._charts) == 1  # openpyxl keeps a sheet's charts there
    assert db.session.scalar(select(AuditLog.entity_label).where(AuditLog.action == "export")) \
        == "月度服务报表·按服务类型导出"
    # The monthly report's own workbook carries native charts too.
    monthly = load_workbook(io.BytesIO(client.get("/casemgmt/ledger/report/export?month=2026-10").data))
    assert len(monthly["按服务类型"]._charts) == 1


# --- archive ---------------------------------------------------------------------------------------------


def test_archive_job_runs_through_the_queue_and_downloads_are_checked(app, client, world):
    _month_of_services(world)
    jobs.use_app(app)
    queue = get_queue()
    job = queue.enqueue(archive_monthly_reports, "2026-11-03")  # on a day in November: October is archived
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    from portal.reports.registry import all_reports

    monthly = [r for r in all_reports() if r.archive == "monthly"]
    assert len(monthly) >= 3 and len(job.return_value()["runs"]) == len(monthly)  # every declared archive="monthly"
    assert services.generate_scheduled(today=date(2026, 11, 20)) == []  # once per month
    one = queue.enqueue(generate_report, "cm_services_by_type", {"month": "2026-10", "source": "adhoc"}, "weekly")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    one.refresh()
    assert one.is_finished, one.latest_result()
    adhoc = db.session.get(ReportRun, one.return_value()["run_id"])
    assert adhoc.schedule == "weekly" and adhoc.rows == 1 and "来源：临时服务" in adhoc.filter_text
    db.session.commit()
    run = db.session.scalar(select(ReportRun).where(ReportRun.report_code == "cm_services_by_type"))
    assert run.period == "2026-10" and run.schedule == "monthly" and run.requested_by_id is None and run.rows == 2
    sheet = load_workbook(io.BytesIO(run.content)).active
    assert [r[0] for r in sheet.iter_rows(min_row=5, values_only=True)] == ["电话随访", "健康宣教推送", "合计"]

    client.login("cm_boss")
    page = client.get("/reports/archive")
    assert "月度服务报表·按服务类型" in text_of(page) and "定时生成" in text_of(page)
    download = client.get(f"/reports/archive/{run.id}")
    assert download.status_code == 200 and download.data == run.content
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "report_run", AuditLog.entity_id == str(run.id))) == 2  # created, downloaded
    # A user's own run: generated with their scope, seen by them and by those who see everything.
    client.submit("/logout")
    client.login("cm_li")
    assert client.get(f"/reports/archive/{run.id}").status_code == 404  # hospital-wide: not for a case manager
    created = client.submit("/reports/cm_services_by_type/archive?month=2026-10")
    assert created.status_code == 303
    mine = db.session.scalar(select(ReportRun).where(ReportRun.requested_by_id == world.li.id))
    assert mine.filter_text.startswith("期间：2026年10月") and mine.rows == 2
    assert f"/reports/archive/{mine.id}" in client.get("/reports/archive").get_data(as_text=True)
    client.submit("/logout")
    client.login("cm_wang")
    assert client.get(f"/reports/archive/{mine.id}").status_code == 404
    make_user("outsider", ["clinician"], world.ward)
    client.submit("/logout")
    client.login("outsider")
    assert client.get(f"/reports/archive/{run.id}").status_code == 404
    assert client.submit("/reports/cm_services_by_type/archive?month=2026-10").status_code == 403


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query, message", [
    ("month=2026-13", "月份"),
    ("month=abc", "格式不正确"),
    ("date_from=2026-02-30&date_to=2026-03-01", "开始日期"),
    ("date_from=2026-10-01", "同时填写"),
    ("date_from=2026-10-09&date_to=2026-10-01", "开始日期不能晚于结束日期"),
    ("date_from=2020-01-01&date_to=2026-01-01", "最长五年"),
    ("compare=mom", "对比方式"),
    ("source=fax", "来源"),
    ("department_id=3", "不按科室筛选"),
    ("month=" + "9" * 80, "过长"),
])
def test_bad_filter_values_answer_400_in_chinese(client, world, query, message):
    client.login("cm_boss")
    for path in ("/reports/cm_services_by_type", "/reports/cm_services_by_type/export"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400 and message in text_of(response), (path, query, text_of(response)[:300])
    assert db.session.scalar(select(func.count()).select_from(ReportRun)) == 0


def test_every_report_accepts_five_years_and_no_more(client, tree, staff_report):
    """Reports without a summary table too: five years of history is what the hospital compares over."""
    make_user("office", ["ma_staff"], tree.surgery)
    client.login("office")
    five = client.get("/reports/test_staff_by_department?date_from=2021-12-01&date_to=2026-11-30")
    assert five.status_code == 200
    longer = client.get("/reports/test_staff_by_department?date_from=2020-11-01&date_to=2026-11-30")
    assert longer.status_code == 400 and "最长五年" in text_of(longer)


def test_bad_department_and_unknown_reports(client, tree, staff_report):
    make_user("office", ["ma_staff"], tree.surgery)
    client.login("office")
    for query, message in (("department_id=abc", "科室参数无效"), ("department_id=999999", "科室不存在")):
        response = client.get(f"/reports/test_staff_by_department?{query}")
        assert response.status_code == 400 and message in text_of(response)
    assert client.get("/reports/no_such_report").status_code == 404
    assert client.get("/reports/test_staff_by_department/rows").status_code == 404  # no drill-down query
    assert client.get("/reports/archive/999999").status_code == 404


def test_operators_archive_a_missed_month_from_the_command_line(tmp_path):
    from portal.config import ROOT
    from portal.core.redis_conn import stop_embedded_redis
    from tests.integration.test_cli import run

    instance = tmp_path / "instance"
    env = {**os.environ, "PORTAL_INSTANCE": str(instance), "DATABASE_URL": f"sqlite:///{instance}/portal.db",
           "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    try:
        run(env, "upgrade")
        from portal.reports.registry import all_reports

        monthly = sum(1 for r in all_reports() if r.archive == "monthly")
        assert f"已生成 {monthly} 份报表存档" in run(env, "archive-reports", "--today", "2026-11-03").stdout
        assert "已生成 0 份报表存档" in run(env, "archive-reports", "--today", "2026-11-20").stdout
        bad = run(env, "archive-reports", "--today", "11/03", check=False)
        assert bad.returncode == 2 and "不是日期" in bad.stderr
    finally:
        stop_embedded_redis(str(instance))


def test_drill_links_are_the_urls_the_router_builds(app):
    """Drill URLs reuse a column's base URL within a request and append the row's keys: the same string as
    url_for with every argument, whatever the key values (text, spaces, symbols, none, numbers)."""
    from flask import url_for

    from portal.reports import engine
    from portal.reports.params import Params

    report = Report(
        code="test_drill_keys", title="下钻", permission=VIEW_STAFF,
        query=lambda params: select(Staff.name.label("who"), Staff.department_id.label("dept"),
                                    func.count(Staff.id).label("people")).group_by(Staff.name, Staff.department_id),
        columns=(Column("who", "姓名", fmt="text"), Column("dept", "科室", fmt="text", key_type=int),
                 Column("people", "人数", drill=Drill(rows=lambda params, keys: select(Staff), columns=()))),
        definition="人数。", department_column=Staff.department_id)
    column = report.column("people")
    with app.test_request_context("/reports/test_drill_keys"):
        for args in ({}, {"month": "2026-03", "department_id": "7"}):
            params = Params.parse(report, args)
            rows = ({"who": "张 三&李四/?#%", "dept": 12}, {"who": None, "dept": 0}, {"who": "ä+b=c", "dept": None})
            for row in rows:
                keys = {"k_who": "" if row["who"] is None else row["who"],
                        "k_dept": "" if row["dept"] is None else row["dept"]}
                expected = url_for("reports.drill_rows", code=report.code, column="people",
                                   **params.args(compare=None), **keys)
                assert engine.drill_url(report, column, row, params) == expected
            assert engine.drill_url(report, column, None, params) == url_for(
                "reports.drill_rows", code=report.code, column="people", **params.args(compare=None))
