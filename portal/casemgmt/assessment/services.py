"""The monthly assessment (月度考核) and the settlement it sets.

The contract: the assessment score is the settlement coefficient's input — 90 and above 1.0,
80-89 0.9, 60-79 0.7, below 60 0.5 — and the month's settlement fee is the month's payable amount
times the coefficient. Scores carry one decimal and are banded as entered (89.9 is in 80-89: only
">= 90" earns 1.0). Money is Decimal throughout and rounded half-up to the fen.

The system proposes a score from the month's three quality indicators; the hospital may override it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core import audit, months
from portal.core.service import Conflict, ServiceError, clean
from portal.extensions import db

from ..kpis import queries as kpi_service
from ..models import MonthlyAssessment

FIELDS = ("month", "proposed_score", "score", "coefficient", "payable", "fee", "note")
ONE_DECIMAL = Decimal("0.1")
FEN = Decimal("0.01")
MAX_SCORE = Decimal(100)
MAX_PAYABLE = Decimal("9999999999.99")  # Numeric(12, 2)
MAX_NOTE = 500
# (lowest score of the band, coefficient, what happens to the performance bond) — the contract's wording.
BANDS = (
    (Decimal(90), Decimal("1.00"), "90 分及以上", "全额结算，不扣除履约保证金"),
    (Decimal(80), Decimal("0.90"), "80–89 分", "扣除履约保证金 10%"),
    (Decimal(60), Decimal("0.70"), "60–79 分", "扣除履约保证金 30%"),
    (Decimal(0), Decimal("0.50"), "低于 60 分", "扣除履约保证金 50%，并限期整改"),
)
FAIL_BELOW = Decimal(60)
# The proposal: each quality indicator missed costs a fixed amount plus its gap, up to a cap.
MISS_POINTS = 10
POINTS_PER_GAP_POINT = 1
MAX_PER_INDICATOR = 30
PROPOSAL_RULE = (f"建议分从 100 分起算：管理路径执行率、服务对象满意度、不良事件（含服务投诉）发生率三项考核指标中，"
                 f"每有一项未达标扣 {MISS_POINTS} 分，并按与目标值的差距每 1 个百分点再扣 {POINTS_PER_GAP_POINT} 分"
                 f"（不足 1 个百分点按比例计），每项最多扣 {MAX_PER_INDICATOR} 分；当月无数据的指标不扣分。"
                 "结果保留一位小数（四舍五入）。建议分仅供参考，以医院录入的考评分为准。")
COEFFICIENT_RULE = ("考核得分作为结算系数：90 分及以上系数为 1.0，80–89 分系数为 0.9，60–79 分系数为 0.7，"
                    "＜60 分系数为 0.5。考评分保留一位小数，按录入值判定档次（如 89.9 分属 80–89 分档，系数 0.9）。"
                    "月度结算费用 = 月度应付费用 × 考核结算系数，四舍五入到分。")


def band_for(score: Decimal) -> tuple[Decimal, Decimal, str, str]:
    for band in BANDS:
        if score >= band[0]:
            return band
    return BANDS[-1]


def coefficient_for(score: Decimal) -> Decimal:
    """The settlement coefficient for an assessment score (one decimal, 0-100)."""
    return band_for(Decimal(score))[1]


def bond_treatment(score: Decimal) -> str:
    return band_for(Decimal(score))[3]


def settlement_fee(payable: Decimal, coefficient: Decimal) -> Decimal:
    return (payable * coefficient).quantize(FEN, ROUND_HALF_UP)


def _to_decimal(value, label: str, field: str) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    else:
        text = clean(str(value) if value is not None else "").replace(",", "").replace("，", "").lstrip("¥￥")
        if not text:
            raise ServiceError(f"请填写{label}。", field=field)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ServiceError(f"{label}应为数字，如 {'92.5' if field == 'score' else '120000.00'}。",
                               field=field) from None
    if not number.is_finite():
        raise ServiceError(f"{label}应为数字。", field=field)
    return number


def parse_score(value) -> Decimal:
    score = _to_decimal(value, "考评分", "score")
    if not Decimal(0) <= score <= MAX_SCORE:
        raise ServiceError("考评分应在 0–100 分之间。", field="score")
    if score != score.quantize(ONE_DECIMAL):
        raise ServiceError("考评分最多保留一位小数。", field="score")
    return score.quantize(ONE_DECIMAL)


def parse_payable(value) -> Decimal:
    payable = _to_decimal(value, "月度应付费用", "payable")
    if payable < 0:
        raise ServiceError("月度应付费用不能为负数。", field="payable")
    if payable > MAX_PAYABLE:
        raise ServiceError("月度应付费用超出可录入的范围。", field="payable")
    if payable != payable.quantize(FEN):
        raise ServiceError("月度应付费用最多保留两位小数（到分）。", field="payable")
    return payable.quantize(FEN)


# --- the proposal -------------------------------------------------------------------------------------------

@dataclass
class Deduction:
    kpi: kpi_service.Kpi
    points: Fraction
    reason: str

    @property
    def points_text(self) -> str:
        return str(_round(self.points))


@dataclass
class Proposal:
    score: Decimal
    deductions: list[Deduction]
    kpis: kpi_service.MonthKpis


def _round(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(ONE_DECIMAL, ROUND_HALF_UP)


def proposal(month: date, kpis: kpi_service.MonthKpis | None = None) -> Proposal:
    """The proposed score and, per indicator, what was deducted and why."""
    kpis = kpis or kpi_service.month_kpis(month, with_previous=False)
    deductions = []
    for kpi in kpis.scored:
        if kpi.met is None:
            deductions.append(Deduction(kpi, Fraction(0), "本月无数据，不扣分"))
            continue
        if kpi.met:
            deductions.append(Deduction(kpi, Fraction(0), "达标"))
            continue
        gap = abs(kpi.percent_points - kpi.target * 100)
        points = min(Fraction(MAX_PER_INDICATOR), MISS_POINTS + gap * POINTS_PER_GAP_POINT)
        deductions.append(Deduction(kpi, points, f"未达标，差距 {_round(gap)} 个百分点"))
    score = max(Fraction(0), 100 - sum((d.points for d in deductions), Fraction(0)))
    return Proposal(_round(score), deductions, kpis)


def propose_score(month: date) -> Decimal:
    """The score the system proposes for a month (see PROPOSAL_RULE)."""
    return proposal(month).score


# --- saving -------------------------------------------------------------------------------------------------

def get_assessment(month: date) -> MonthlyAssessment | None:
    return db.session.scalar(select(MonthlyAssessment).where(MonthlyAssessment.month == month.replace(day=1)))


def save_assessment(month: date, *, score, payable, note: str = "", today: date | None = None) -> MonthlyAssessment:
    """Enter (or re-enter) a month's score and payable amount; the coefficient and fee follow the contract."""
    month = months.check_not_future(month.replace(day=1), today, "考核")
    score = parse_score(score)
    payable = parse_payable(payable)
    note = clean(note)
    if len(note) > MAX_NOTE:
        raise ServiceError(f"备注不超过 {MAX_NOTE} 字。", field="note")
    coefficient = coefficient_for(score)
    values = {"proposed_score": proposal(month).score, "score": score, "coefficient": coefficient,
              "payable": payable, "fee": settlement_fee(payable, coefficient), "note": note}
    label = f"{months.month_label(month)}月度考核"
    row = get_assessment(month)
    if row is None:
        row = MonthlyAssessment(month=month, **values)
        try:
            with db.session.begin_nested():  # two people entering the same month at once: one wins
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            raise Conflict(f"{months.month_label(month)}的考核刚由他人录入，请刷新页面后再修改。") from None
        audit.record("create", "monthly_assessment", row.id, label=label, after=audit.snapshot(row, FIELDS))
        return row
    before = audit.snapshot(row, FIELDS)
    for key, value in values.items():
        setattr(row, key, value)
    db.session.flush()
    after = audit.snapshot(row, FIELDS)
    if audit.diff(before, after):
        audit.record("update", "monthly_assessment", row.id, label=label, before=before, after=after)
    return row


# --- the year ------------------------------------------------------------------------------------------------

@dataclass
class YearRow:
    month: date
    assessment: MonthlyAssessment | None
    is_future: bool

    @property
    def bond(self) -> str:
        return bond_treatment(self.assessment.score) if self.assessment else ""

    @property
    def failed(self) -> bool:
        return self.assessment is not None and self.assessment.score < FAIL_BELOW


@dataclass
class Year:
    year: int
    rows: list[YearRow]

    @property
    def assessed(self) -> list[MonthlyAssessment]:
        return [r.assessment for r in self.rows if r.assessment]

    @property
    def payable_total(self) -> Decimal:
        return sum((a.payable for a in self.assessed), Decimal("0.00"))

    @property
    def fee_total(self) -> Decimal:
        return sum((a.fee for a in self.assessed), Decimal("0.00"))

    @property
    def failed_count(self) -> int:
        return sum(1 for r in self.rows if r.failed)

    @property
    def two_failed_in_a_row(self) -> bool:
        return any(a.failed and b.failed for a, b in zip(self.rows, self.rows[1:], strict=False))

    @property
    def breach_warning(self) -> str:
        """The contract's termination clause: two consecutive months below 60, or three fails in a year."""
        reasons = []
        if self.two_failed_in_a_row:
            reasons.append("月度考核连续 2 次＜60 分")
        if self.failed_count >= 3:
            reasons.append(f"年度累计 {self.failed_count} 次考核不合格（＜60 分）")
        return "；".join(reasons)


def year_assessments(year: int, today: date | None = None) -> Year:
    """The twelve months of a year with their assessments (one query)."""
    this_month = months.current_month(today)
    found = {a.month: a for a in db.session.scalars(select(MonthlyAssessment).where(
        MonthlyAssessment.month >= date(year, 1, 1), MonthlyAssessment.month <= date(year, 12, 1)))}
    rows = [YearRow(date(year, m, 1), found.get(date(year, m, 1)), date(year, m, 1) > this_month)
            for m in range(1, 13)]
    return Year(year, rows)
