"""The monthly assessment table (月度考核表), declared on the registry: one row per assessed month.

A month (`?month=2026-10`) is the month's sheet to be signed; a year (`?date_from=2026-01-01&date_to=2026-12-31`)
is the year's table. Score, coefficient and fee are the values saved by `services.save_assessment`
(the fee rounded half-up to the fen there); the totals add the saved Decimal amounts, never floats.
Not archived monthly: a month's score is entered by hand after the month, so the 1st would keep an empty sheet.
"""

from __future__ import annotations

from sqlalchemy import case, literal, select

from portal.core import months
from portal.reports.registry import Column, Report, register

from .. import KPI
from ..models import MonthlyAssessment
from . import services

TITLE = "患者全程管理服务月度考核表"
SIGNERS = ("医院全程管理中心（签字）", "医务科（签字）", "服务商项目负责人（签字）")


def _banded(position: int):
    """A column of the contract's band of each score (its label or its bond treatment), from services.BANDS."""
    *upper, lowest = services.BANDS
    return case(*((MonthlyAssessment.score >= band[0], literal(band[position])) for band in upper),
                else_=literal(lowest[position]))


def _query(params):
    return (select(MonthlyAssessment.month.label("month"),
                   MonthlyAssessment.proposed_score.label("proposed_score"),
                   MonthlyAssessment.score.label("score"),
                   MonthlyAssessment.coefficient.label("coefficient"),
                   MonthlyAssessment.payable.label("payable"),
                   MonthlyAssessment.fee.label("fee"),
                   _banded(2).label("band"), _banded(3).label("bond"),
                   MonthlyAssessment.note.label("note"))
            .order_by(MonthlyAssessment.month))


def _year_page(params) -> tuple[str, str]:
    from flask import url_for

    return "返回月度考核", url_for("casemgmt.list_assessments", year=params.start.year)


def _month_texts(values: list) -> dict:
    return {value: f"{value:%Y-%m}" for value in values}


def _indicators(result) -> str:
    """On a month's sheet: the month's indicators the score is based on."""
    month = result.params.month
    if month is None or not result.rows:
        return ""
    from ..kpis import queries as kpis

    shown = []
    for kpi in kpis.month_kpis(month, with_previous=False).items:
        met = {True: "达标", False: "未达标", None: "—"}[kpi.met]
        ratio = f"{kpi.numerator} / {kpi.denominator}" if kpi.denominator is not None else f"{kpi.numerator}"
        shown.append(f"{kpi.label} {kpi.display}{kpi.unit if kpi.kind == 'count' else ''}"
                     f"（{ratio}；目标 {kpi.target_label}；{met}）")
    return f"{months.month_label(month)}服务质量考核指标：" + "；".join(shown) + "。"


ASSESSMENT = register(Report(
    code="cm_assessment", title=TITLE, permission=KPI,
    query=_query,
    columns=(Column("month", "考核月份", fmt="text", labels=_month_texts, width=10),
             Column("proposed_score", "系统建议分", fmt="decimal", total=None, compare=False, width=12),
             Column("score", "考评分", fmt="decimal", total=None, compare=False, width=10),
             Column("coefficient", "考核结算系数", fmt="decimal", total=None, compare=False, width=14),
             Column("payable", "月度应付费用", fmt="money", width=18),
             Column("fee", "月度结算费用", fmt="money", width=18),
             Column("band", "考核档次", fmt="text", width=12),
             Column("bond", "履约保证金处理", fmt="text", width=28),
             Column("note", "备注", fmt="text", blank="—", width=30)),
    definition=(f"{services.COEFFICIENT_RULE}\n合计行为所选期间已考核月份的月度应付费用与月度结算费用之和（按分相加）。\n"
                f"系统建议分：{services.PROPOSAL_RULE}"),
    date_column=MonthlyAssessment.month, scope=lambda stmt, user, permission: stmt,
    sees_everything=lambda user: True, department_filter=False, group="个案管理指标",
    note=_indicators, signatures=SIGNERS, back=_year_page, empty="尚未录入考核结果。",
    summary="每月考评分、结算系数、应付与结算费用及合计"))
