"""The KPI drill-downs and the assessment table as declared reports: permission, scope, page = file, money.

The month of tests/integration/test_casemgmt_kpis.py (two case managers, every kind of pathway step,
surveys, events, plans) is reused; expected figures are recomputed from the rows there.
"""

from __future__ import annotations

import html
import io
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.auth import services as auth_services
from portal.casemgmt import KPI, scoping
from portal.casemgmt.assessment import services as assessment
from portal.casemgmt.assessment.reports import ASSESSMENT
from portal.casemgmt.kpis import queries as kpis
from portal.casemgmt.kpis.reports import KPI_REPORTS
from portal.casemgmt.models import SatisfactionSurvey
from portal.core import months
from portal.extensions import db
from portal.reports import registry
from tests.conftest import text_of
from tests.integration import test_casemgmt_kpis as month_tests
from tests.integration.test_casemgmt_kpis import MONTH, expected_execution, expected_satisfaction
from tests.integration.test_reports import table_rows

world = month_tests.world


def rows_of(response) -> list[list[str]]:
    """The drill-down page's table rows as cell texts."""
    body = response.get_data(as_text=True)
    table = body[body.index('<table class="data">'):body.index("</table>")]
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>"):], re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        out.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return out


def sheet_of(response) -> list[list[str]]:
    """The exported rows below the header, as the page shows them (dates as text, empty as —)."""
    values = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    out = []
    for row in values[3:]:
        shown = []
        for value in row:
            if value is None or value == "":
                shown.append("—")
            elif hasattr(value, "strftime"):
                shown.append(f"{value:%Y-%m-%d %H:%M}" if value.hour or value.minute else f"{value:%Y-%m-%d}")
            else:
                shown.append(str(value))
        out.append(shown)
    return out


def same(rows: list[list[str]]) -> list[tuple]:
    """Rows compared as values: a number the page writes 4.0 is the file's 4."""

    def value(text: str) -> str:
        try:
            return str(Decimal(text).normalize())
        except ArithmeticError:
            return text

    return [tuple(value(cell) for cell in row) for row in rows]


def kpi_for(user, tree):
    """A case manager who also reads the indicators: the KPI permission without casemgmt.view_all."""
    role = auth_services.create_role(code="cm_kpi", name="个管看指标", description="", data_scope="all",
                                     permissions=[KPI.code])
    user.roles.append(role)
    db.session.commit()


def test_every_kpi_of_the_dashboard_is_a_registered_report_with_the_kpi_permission():
    assert set(KPI_REPORTS) == set(kpis.KPI_CODES)
    for code, (report, column, _key) in KPI_REPORTS.items():
        assert registry.get(report.code) is report, code
        assert report.permission is KPI, code
        if column is not None:
            assert report.column(column).drill.rows is not None, code
    assert registry.get("cm_assessment") is ASSESSMENT and ASSESSMENT.permission is KPI


def test_report_figures_match_the_dashboard(world, client):
    client.login("cm_boss")
    _ontime, due, states = expected_execution(MONTH)
    shown = {r[0]: r[1] for r in table_rows(client.get("/reports/cm_kpi_execution?month=2026-10"))}
    assert shown["合计"] == str(due)
    assert {label: shown.get(label, "0") for label in kpis.EXECUTION_STATES.values()} == \
        {kpis.EXECUTION_STATES[s]: str(n) for s, n in states.items()}
    satisfied, surveys = expected_satisfaction(MONTH)
    shown = {r[0]: r[1] for r in table_rows(client.get("/reports/cm_kpi_satisfaction?month=2026-10"))}
    assert (shown["满意"], shown["合计"]) == (str(satisfied), str(surveys))
    # Every number of the dashboard links to the registry's rows with the month and the figure's filter.
    page = client.get("/casemgmt/kpis?month=2026-10").get_data(as_text=True)
    assert 'href="/reports/cm_kpi_execution/rows?month=2026-10&amp;column=tasks&amp;k_state=ontime"' in page
    assert 'href="/reports/cm_kpi_satisfaction/rows?month=2026-10&amp;column=surveys&amp;k_satisfied=0"' in page
    assert 'href="/reports/cm_kpi_workload?month=2026-10&amp;over=1"' in page
    assert "/casemgmt/kpis/execution" not in page


@pytest.mark.parametrize("login, mine", [("cm_li", True), ("cm_boss", False)])
def test_a_case_manager_sees_their_rows_a_supervisor_all_and_the_file_holds_the_page(world, client, tree, app,
                                                                                     monkeypatch, login, mine):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 500)
    if mine:
        kpi_for(world.li, tree)
    client.login(login)
    tasks = db.session.scalars(kpis.execution_query(MONTH)).all()
    expected = [t for t in tasks if not mine or t.case_manager_id == world.li.id]
    assert expected and (mine or {t.case_manager_id for t in expected} == {world.li.id, world.wang.id})

    report = table_rows(client.get("/reports/cm_kpi_execution?month=2026-10"))
    assert report[-1][:2] == ["合计", str(len(expected))]
    url = "/reports/cm_kpi_execution/rows?month=2026-10&column=tasks"
    page = client.get(url)
    assert page.status_code == 200 and ("只列出您负责" in text_of(page)) is mine
    shown = rows_of(page)
    assert len(shown) == len(expected)
    assert {r[-1] for r in shown} == ({"李个管"} if mine else {"李个管", "王个管"})
    exported = client.get(url.replace("/rows?", "/rows/export?"))
    assert exported.status_code == 200
    assert same(sheet_of(exported)) == same(shown)  # the same rows, in the same order, as the page

    visible = select(SatisfactionSurvey.patient_id) if not mine else scoping.visible_patient_ids(world.li.id)
    surveys = [s for s in db.session.scalars(select(SatisfactionSurvey))
               if s.survey_month == MONTH and s.patient_id in set(db.session.scalars(visible))]
    listed = rows_of(client.get("/reports/cm_kpi_satisfaction/rows?month=2026-10&column=surveys"))
    assert len(listed) == len(surveys)
    exported = client.get("/reports/cm_kpi_satisfaction/rows/export?month=2026-10&column=surveys&sort=-score")
    assert sorted(same(sheet_of(exported))) == sorted(same(listed))


def test_an_old_drill_down_link_keeps_its_filters(world, client):
    client.login("cm_boss")
    moved = client.get("/casemgmt/kpis/execution?month=2026-10&state=late&sort=-completed&page=1")
    assert moved.status_code == 302
    assert moved.headers["Location"] == ("/reports/cm_kpi_execution/rows?month=2026-10&column=tasks&k_state=late"
                                         "&sort=-completed&page=1")
    late = db.session.scalars(kpis.execution_query(MONTH, "late")).all()
    assert late and all(kpis.execution_state(t) == "late" for t in late)
    page = client.get(moved.headers["Location"])
    assert len(rows_of(page)) == len(late)
    sorted_by = re.search(r'<th scope="col" aria-sort="descending"><a href="([^"]+)"[^>]*>([^<]+)<',
                          page.get_data(as_text=True))
    assert sorted_by.group(2) == "完成时间"
    assert html.unescape(sorted_by.group(1)).endswith("k_state=late&sort=completed")  # clicked: ascending
    assert client.get("/reports/cm_kpi_execution/rows?month=2026-10&column=tasks&k_state=bogus").status_code == 400
    assert client.get("/reports/cm_kpi_execution/rows?month=2026-10&column=tasks&sort=bogus").status_code == 400
    client.submit("/logout")
    client.login("cm_li")  # no KPI permission
    assert client.get("/reports/cm_kpi_execution/rows?month=2026-10").status_code == 403
    assert client.get("/reports/cm_kpi_execution/rows/export?month=2026-10").status_code == 403


def test_assessment_table_totals_and_half_up_rounding(world, client):
    # 10.05 × 0.90 = 9.045 and 0.15 × 0.70 = 0.105: half-up gives 9.05 and 0.11 (half-even would give 9.04, 0.10)
    assessment.save_assessment(months.parse_month("2026-08"), score="85", payable="10.05")
    assessment.save_assessment(months.parse_month("2026-09"), score="70", payable="0.15")
    db.session.commit()
    assert assessment.settlement_fee(Decimal("10.05"), Decimal("0.90")) == Decimal("9.05")
    assert assessment.settlement_fee(Decimal("0.15"), Decimal("0.70")) == Decimal("0.11")
    client.login("cm_boss")
    rows = table_rows(client.get("/reports/cm_assessment?date_from=2026-01-01&date_to=2026-12-31"))
    by_month = {r[0]: r for r in rows}
    assert by_month["2026-08"][5] == "¥9.05" and by_month["2026-09"][5] == "¥0.11"
    assert by_month["合计"][4:6] == ["¥10.20", "¥9.16"]
    response = client.get("/casemgmt/assessments/export?year=2026", follow_redirects=True)
    values = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    header = list(values[2])
    fee, payable = header.index("月度结算费用"), header.index("月度应付费用")
    exported = {r[0]: r for r in values[3:] if r and r[0]}
    assert Decimal(str(exported["2026-08"][fee])) == Decimal("9.05")
    assert Decimal(str(exported["2026-09"][fee])) == Decimal("0.11")
    total = exported["合计"]
    assert Decimal(str(total[fee])).quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal("9.16")
    assert Decimal(str(total[payable])).quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal("10.20")
    assert exported["2026-09"][header.index("考核档次")] == "60–79 分"
    text = text_of(client.get("/reports/cm_assessment?month=2026-09"))
    assert "90 分及以上系数为 1.0" in text and "服务商项目负责人（签字）" in text
