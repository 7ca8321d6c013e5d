"""The monthly assessment: coefficient bands, fee rounding, the proposed score, saving, the sheet and refusals."""

from __future__ import annotations

import io
from decimal import ROUND_HALF_UP, Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.casemgmt.assessment import services as assessment
from portal.casemgmt.kpis import queries as kpis
from portal.casemgmt.models import MonthlyAssessment
from portal.core import months
from portal.core.audit import AuditLog
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import make_user
from tests.integration.test_casemgmt_kpis import MONTH, build_month

URL = "/casemgmt/assessments/2026-10"


@pytest.mark.parametrize(("score", "coefficient"), [
    ("0", "0.50"), ("59.9", "0.50"), ("60", "0.70"), ("60.0", "0.70"), ("79.9", "0.70"), ("80", "0.90"),
    ("89.5", "0.90"), ("89.9", "0.90"), ("90", "1.00"), ("90.0", "1.00"), ("100", "1.00"),
])
def test_coefficient_bands_at_their_boundaries(score, coefficient):
    assert assessment.coefficient_for(Decimal(score)) == Decimal(coefficient)


@pytest.mark.parametrize(("payable", "coefficient", "fee"), [
    ("0.05", "0.70", "0.04"),  # 0.035: half-up to the fen (a float would give 0.03)
    ("0.15", "0.70", "0.11"),  # 0.105
    ("12345.67", "0.90", "11111.10"),  # 11111.103
    ("100000.05", "0.90", "90000.05"),  # 90000.045
    ("0.00", "0.50", "0.00"),
    ("9999999999.99", "1.00", "9999999999.99"),
])
def test_fee_is_payable_times_coefficient_rounded_half_up_to_the_fen(payable, coefficient, fee):
    assert assessment.settlement_fee(Decimal(payable), Decimal(coefficient)) == Decimal(fee)


@pytest.fixture
def world(tree, monkeypatch):
    return build_month(tree, monkeypatch)


def _expected_proposal(month) -> Decimal:
    """The documented rule, applied here to the KPI figures: 10 points per missed indicator plus its gap, max 30."""
    data = kpis.month_kpis(month, with_previous=False)
    total = Decimal(100)
    for kpi, target, lower in ((data.execution, Decimal("98"), False), (data.satisfaction, Decimal("90"), False),
                               (data.events, Decimal("1"), True)):
        if not kpi.denominator:
            continue
        value = Decimal(kpi.numerator) * 100 / Decimal(kpi.denominator)
        gap = value - target if lower else target - value
        if gap > 0:
            total -= min(Decimal(30), 10 + gap)
    return max(Decimal(0), total).quantize(Decimal("0.1"), ROUND_HALF_UP)


def test_proposed_score_follows_the_stated_rule(world):
    proposed = assessment.propose_score(MONTH)
    assert proposed == _expected_proposal(MONTH)
    assert proposed < 100  # the month misses indicators, so the rule is exercised
    empty = months.previous_month(months.previous_month(MONTH))
    assert assessment.propose_score(empty) == Decimal("100.0")  # no data: nothing deducted


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(MonthlyAssessment))


def test_hospital_enters_then_corrects_a_month_with_audit(world, client):
    client.login("center")
    page = client.get(URL)
    assert page.status_code == 200
    assert f'value="{assessment.propose_score(MONTH)}"' in page.get_data(as_text=True)  # the proposal, pre-filled
    response = client.submit(URL, {"score": "88.5", "payable": "100,000.05", "note": "路径执行率未达标"})
    assert response.status_code == 303, text_of(response)[-400:]
    row = db.session.scalar(select(MonthlyAssessment))
    payable = Decimal("100000.05")
    assert (row.month, row.score, row.coefficient, row.payable) == (MONTH, Decimal("88.5"), Decimal("0.90"), payable)
    assert row.fee == (payable * Decimal("0.90")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert row.proposed_score == assessment.propose_score(MONTH)

    response = client.submit(URL, {"score": "92", "payable": "100000.05", "note": "复核后上调"})
    assert response.status_code == 303
    row = db.session.get(MonthlyAssessment, row.id, populate_existing=True)
    assert _count() == 1 and (row.score, row.coefficient, row.fee) == (Decimal("92.0"), Decimal("1.00"), payable)
    logs = db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "monthly_assessment",
                                                     AuditLog.entity_id == str(row.id))
                              .order_by(AuditLog.id)).all()
    assert [log.action for log in logs] == ["create", "update"]
    assert logs[1].changes["score"] == {"before": "88.5", "after": "92.0"}
    assert logs[1].changes["coefficient"] == {"before": "0.90", "after": "1.00"}

    listing = text_of(client.get("/casemgmt/assessments?year=2026"))
    assert "2026-10" in listing and "92.0" in listing and "¥100,000.05" in listing


@pytest.mark.parametrize(("data", "message"), [
    ({"score": "101", "payable": "100"}, "0–100"),
    ({"score": "-1", "payable": "100"}, "0–100"),
    ({"score": "89.55", "payable": "100"}, "一位小数"),
    ({"score": "abc", "payable": "100"}, "考评分应为数字"),
    ({"score": "NaN", "payable": "100"}, "考评分应为数字"),
    ({"score": "90", "payable": "abc"}, "月度应付费用应为数字"),
    ({"score": "90", "payable": "-0.01"}, "不能为负数"),
    ({"score": "90", "payable": "1.001"}, "两位小数"),
    ({"score": "", "payable": "100"}, "请填写考评分"),
    ({"score": "90", "payable": ""}, "请填写月度应付费用"),
])
def test_bad_scores_and_amounts_are_refused_and_nothing_is_saved(world, client, data, message):
    client.login("center")
    response = client.submit(URL, data)
    assert response.status_code == 422 and message in text_of(response), text_of(response)[-300:]
    assert _count() == 0


def test_bad_and_future_months_are_refused(world, client):
    client.login("center")
    future = months.month_text(months.next_month(months.current_month(local_today())))
    for month in ("2026-13", "abc", "2026-00", future):
        for response in (client.get(f"/casemgmt/assessments/{month}"),
                         client.submit(f"/casemgmt/assessments/{month}", {"score": "95", "payable": "10"})):
            assert response.status_code == 400, month
            assert "月份" in text_of(response) or "未来" in text_of(response)
    assert _count() == 0
    with pytest.raises(ServiceError) as refused:
        assessment.save_assessment(months.parse_month(future), score="95", payable="10")
    assert refused.value.status == 400 and "未来" in refused.value.message
    assert client.get("/casemgmt/assessments?year=abc").status_code == 400
    response = client.get("/casemgmt/assessments/2026-09/sheet")
    assert response.status_code == 404 and "尚未录入考核结果" in text_of(response)


def test_a_month_entered_twice_at_once_keeps_the_first(world, monkeypatch):
    first = assessment.save_assessment(MONTH, score="91", payable="500")
    db.session.commit()
    monkeypatch.setattr(assessment, "get_assessment", lambda month: None)  # the second did not see the first yet
    with pytest.raises(ServiceError) as refused:
        assessment.save_assessment(MONTH, score="70", payable="500")
    assert refused.value.status == 409 and "他人录入" in refused.value.message
    db.session.rollback()
    assert _count() == 1 and db.session.get(MonthlyAssessment, first.id, populate_existing=True).score == 91


def test_only_the_hospital_may_enter_scores(world, client):
    client.login("cm_li")  # a case manager
    assert client.get(URL).status_code == 403
    assert client.submit(URL, {"score": "100", "payable": "1"}).status_code == 403
    assert client.get("/casemgmt/assessments").status_code == 403
    client.submit("/logout")
    client.login("cm_boss")  # the supervisor sees KPIs and assessments but does not score
    assert client.get(URL).status_code == 403
    assert client.submit(URL, {"score": "100", "payable": "1"}).status_code == 403
    assert client.get("/casemgmt/assessments?year=2026").status_code == 200
    assert _count() == 0
    client.submit("/logout")
    response = client.get(URL)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_assessment_sheet_holds_the_indicators_and_the_settlement(world, client, app):
    assessment.save_assessment(MONTH, score="85.5", payable="123456.78", note="=HYPERLINK(\"x\")")
    db.session.commit()
    client.login("cm_boss")
    moved = client.get("/casemgmt/assessments/2026-10/sheet")
    assert moved.headers["Location"] == "/reports/cm_assessment/export?month=2026-10"  # the registry's export
    response = client.get(moved.headers["Location"])
    assert response.status_code == 200
    ws = load_workbook(io.BytesIO(response.data)).active
    values = list(ws.iter_rows(values_only=True))
    cells = [c for row in values for c in row if c is not None]
    assert f"{app.config['HOSPITAL_NAME']} 患者全程管理服务月度考核表" in cells
    assert any(isinstance(c, str) and "2026年10月" in c for c in cells)
    header = list(values[2])
    row = dict(zip(header, values[3], strict=True))
    fee = (Decimal("123456.78") * Decimal("0.90")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert row["考核月份"] == "2026-10"
    assert Decimal(str(row["考评分"])) == Decimal("85.5")
    assert Decimal(str(row["考核结算系数"])) == Decimal("0.90")
    assert Decimal(str(row["月度应付费用"])) == Decimal("123456.78")
    assert Decimal(str(row["月度结算费用"])) == fee
    assert row["考核档次"] == "80–89 分" and row["履约保证金处理"] == "扣除履约保证金 10%"
    note = ws.cell(row=4, column=header.index("备注") + 1)
    assert note.value == '=HYPERLINK("x")' and note.data_type == "s" and note.quotePrefix  # not run as a formula
    assert values[4][0] == "合计" and Decimal(str(values[4][header.index("月度结算费用")])) == fee
    text = "\n".join(c for c in cells if isinstance(c, str))
    for indicator in ("管理路径执行率", "服务对象满意度", "不良事件（含服务投诉）发生率"):
        assert indicator in text
    assert "统计口径：" in text and "90 分及以上系数为 1.0" in text  # the rule stated in the file
    assert "服务商项目负责人（签字）" in text

    yearly = client.get("/casemgmt/assessments/export?year=2026", follow_redirects=True)
    rows = list(load_workbook(io.BytesIO(yearly.data)).active.iter_rows(values_only=True))
    assert rows[2][0] == "考核月份" and rows[3][0] == "2026-10" and Decimal(str(rows[3][5])) == fee


def test_year_list_warns_of_the_contract_termination_clause(world, client):
    for month, score in (("2026-08", "55"), ("2026-09", "58.5")):
        assessment.save_assessment(months.parse_month(month), score=score, payable="1000")
    db.session.commit()
    make_user("yiwu", ["ma_admin"], world.issuer.department)
    client.login("yiwu")
    page = text_of(client.get("/casemgmt/assessments?year=2026"))
    assert "连续 2 次＜60 分" in page and "不合格" in page
    assert "¥1,000.00" in page
