"""Case-management reports, declared on the registry (portal/reports): the monthly service report's three tables.

Each table is one declared report (per service type, per case manager, per disease) over the service
ledger: one grouped query, a case manager sees their own services, casemgmt.view_all sees all.
This is the file to copy for a domain's reports.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, case, cast, distinct, func, literal, null, select, union_all

from portal.reports.registry import Chart, Choice, Column, Drill, Report, Rollup, register

from . import LEDGER
from .ledger import summary
from .models import TASK_TYPES, LedgerEntry, LedgerMonth, LedgerPatientMonths
from .scoping import scope_to_manager, sees_all

REPORT_OUTCOMES = ("reached", "not_reached", "declined")
SOURCES = {"task": "任务清单", "adhoc": "临时服务"}
DEFINITION = ("统计对象：服务台账中服务日期在所选期间内的记录（完成的任务与登记的临时服务）。\n"
              "服务人次 = 台账记录数；服务人数 = 不重复的患者数（合计行按全部记录重新去重，不是各行相加）。\n"
              "联系成功率 = 已完成（联系上）的人次 ÷ 服务人次。个案管理师只统计本人的服务。")


def _measures():
    return (func.count(LedgerEntry.id).label("services"),
            func.count(distinct(LedgerEntry.patient_id)).label("patients"),
            *(func.sum(case((LedgerEntry.outcome == code, 1), else_=0)).label(code) for code in REPORT_OUTCOMES))


def _summary_rows(params, user, dimensions: tuple[str, ...], dedupe: bool = True):
    """The period's rows of both summaries as one, grouped by the report's dimensions: the counts (patient_id
    NULL) and each patient served (counts 0).

    Sums over it are the ledger's counts; count(distinct patient_id) is the ledger's distinct patients (per group
    and over all groups), because a patient's row is there exactly when they had a ledger row of that group in
    a month of the period. `dedupe`: one row per group and patient (fewer rows to count, where groups are few
    per patient; by service type the pairs are nearly as many as the rows and hashing them costs more).
    """
    parts = []
    for model in (LedgerMonth, LedgerPatientMonths):
        keys = [getattr(model, k) for k in dimensions]
        if model is LedgerMonth:
            stmt = (select(*keys, cast(null(), Integer).label("patient_id"),
                           *(func.sum(getattr(model, k)).label(k) for k in COUNTS))
                    .where(model.month.between(params.start, params.end)).group_by(*keys))
        else:
            stmt = (select(*keys, model.patient_id, *(literal(0).label(k) for k in COUNTS))
                    .where(summary.months_between(params.start, params.end)))
            if dedupe:
                stmt = stmt.group_by(*keys, model.patient_id)
        for name in ("source", "task_type"):
            if params.options.get(name):
                stmt = stmt.where(getattr(model, name) == params.options[name])
        parts.append(stmt if user is None else scope_to_manager(stmt, model.case_manager_id, user))
    return union_all(*parts).subquery("ledger_summary")


COUNTS = ("services", *REPORT_OUTCOMES)


def _patients_total(params, user):
    """服务人数 over all rows: the distinct patients of the bitset summary alone, without the union with the
    counts and the grouping by the report's dimensions (half the time over five years)."""
    model = LedgerPatientMonths
    stmt = (select(func.count(distinct(model.patient_id)).label("patients"))
            .where(summary.months_between(params.start, params.end)))
    for name in ("source", "task_type"):
        if params.options.get(name):
            stmt = stmt.where(getattr(model, name) == params.options[name])
    return stmt if user is None else scope_to_manager(stmt, model.case_manager_id, user)


def _summed(rows):
    """The measures over the summaries; sums cast back to integers (PostgreSQL sums bigints as numeric)."""
    return (cast(func.sum(rows.c.services), BigInteger).label("services"),
            func.count(distinct(rows.c.patient_id)).label("patients"),
            *(cast(func.sum(rows.c[code]), BigInteger).label(code) for code in REPORT_OUTCOMES))


def _by_type_summary(params, user):
    rows = _summary_rows(params, user, ("task_type",), dedupe=False)
    order = case({code: i for i, code in enumerate(TASK_TYPES)}, value=rows.c.task_type, else_=len(TASK_TYPES))
    return select(rows.c.task_type.label("task_type"), *_summed(rows)).group_by(rows.c.task_type).order_by(
        func.min(order))


def _by_manager_summary(params, user):
    rows = _summary_rows(params, user, ("case_manager_id",))
    manager = func.nullif(rows.c.case_manager_id, 0)  # 0 in the summaries: no case manager
    return (select(manager.label("case_manager_id"), *_summed(rows)).group_by(manager)
            .order_by(func.sum(rows.c.services).desc(), manager))


def _by_disease_summary(params, user):
    rows = _summary_rows(params, user, ("icd10_code", "disease_name"))
    return (select(rows.c.icd10_code.label("icd10_code"), rows.c.disease_name.label("disease_name"), *_summed(rows))
            .group_by(rows.c.icd10_code, rows.c.disease_name)
            .order_by(func.sum(rows.c.services).desc(), rows.c.icd10_code))


def _scope(stmt, user, permission):
    return scope_to_manager(stmt, LedgerEntry.case_manager_id, user)


def _source(stmt, value: str):
    return stmt.where(LedgerEntry.task_id.is_not(None) if value == "task" else LedgerEntry.task_id.is_(None))


def _ledger_url(**keys):
    """A URL builder: the ledger list with the report's period and source, plus this row's keys."""

    def build(row, params) -> str | None:
        from flask import url_for

        args = {"month": f"{params.month:%Y-%m}"} if params.month else {
            "date_from": f"{params.start:%Y-%m-%d}", "date_to": f"{params.end:%Y-%m-%d}"}
        if params.options.get("source"):
            args["source"] = params.options["source"]
        for arg, key in keys.items():
            if key.startswith("="):
                args[arg] = key[1:]
            elif row:
                if row.get(key) is None:
                    return None  # no list filter selects "none" (an unassigned service)
                args[arg] = row[key]
        return url_for("casemgmt.list_ledger", **args)

    return build


def _outcome_columns(**keys) -> list[Column]:
    labels = {"reached": "已完成（联系上）", "not_reached": "未联系上", "declined": "患者拒绝"}
    return [Column(code, labels[code], compare=False, width=12,
                   drill=Drill(url=_ledger_url(outcome=f"={code}", **keys))) for code in REPORT_OUTCOMES]


def _number_columns(**keys) -> tuple[Column, ...]:
    return (Column("services", "服务人次", drill=Drill(url=_ledger_url(**keys))),
            Column("patients", "服务人数", total="query", drill=Drill(url=_ledger_url(**keys))),
            *_outcome_columns(**keys),
            Column("reach_rate", "联系成功率", fmt="percent", total="ratio", ratio=("reached", "services")))


def manager_names(ids: list) -> dict:
    from portal.auth.models import Staff, User
    from portal.extensions import db

    rows = db.session.execute(select(User.id, func.coalesce(Staff.name, User.login_name))
                              .outerjoin(Staff, Staff.id == User.staff_id).where(User.id.in_(ids))).all()
    return dict(rows)


COMMON = {"permission": LEDGER, "definition": DEFINITION, "date_column": LedgerEntry.service_date, "scope": _scope,
          "sees_everything": sees_all, "department_filter": False, "group": "个案管理", "archive": "monthly",
          "empty": "还没有服务记录。"}
SOURCE = Choice("source", "来源", SOURCES, apply=_source, blank="全部来源")
TYPE = Choice("task_type", "服务类型", TASK_TYPES, column=LedgerEntry.task_type, blank="全部服务类型")
TYPE_ORDER = case({code: i for i, code in enumerate(TASK_TYPES)}, value=LedgerEntry.task_type, else_=len(TASK_TYPES))


BY_TYPE = register(Report(
    code="cm_services_by_type", title="月度服务报表·按服务类型",
    query=lambda params: (select(LedgerEntry.task_type.label("task_type"), *_measures())
                          .group_by(LedgerEntry.task_type).order_by(func.min(TYPE_ORDER))),
    columns=(Column("task_type", "服务类型", fmt="text", labels=TASK_TYPES, width=20),
             *_number_columns(task_type="task_type")),
    filters=(SOURCE,), chart=Chart("bar", "task_type", ("services", "patients")),
    rollup=Rollup(_by_type_summary, totals=_patients_total),
    summary="各服务类型的服务人次、人数与联系成功率", **COMMON))

BY_MANAGER = register(Report(
    code="cm_services_by_manager", title="月度服务报表·按个案管理师",
    query=lambda params: (select(LedgerEntry.case_manager_id.label("case_manager_id"), *_measures())
                          .group_by(LedgerEntry.case_manager_id)
                          .order_by(func.count(LedgerEntry.id).desc(), LedgerEntry.case_manager_id)),
    columns=(Column("case_manager_id", "个案管理师", fmt="text", labels=manager_names, blank="未分配", key_type=int,
                    width=16),
             *_number_columns(case_manager_id="case_manager_id")),
    filters=(SOURCE, TYPE), chart=Chart("bar", "case_manager_id", ("services",)),
    rollup=Rollup(_by_manager_summary, totals=_patients_total),
    summary="每位个案管理师的服务人次、人数与联系成功率", **COMMON))


def _disease_rows(outcome: str = ""):
    """The ledger rows of one disease (or all), for the registry's drill-down page."""

    def rows(params, keys: dict):
        stmt = select(LedgerEntry).where(LedgerEntry.outcome == outcome) if outcome else select(LedgerEntry)
        return _of_disease(stmt, keys)

    return rows


def _of_disease(stmt, keys: dict):
    if "icd10_code" in keys:
        stmt = stmt.where(LedgerEntry.icd10_code == (keys["icd10_code"] or ""))
    if "disease_name" in keys:
        stmt = stmt.where(LedgerEntry.disease_name == (keys["disease_name"] or ""))
    return stmt.order_by(LedgerEntry.service_date.desc(), LedgerEntry.id.desc())


def _disease_drill_columns():
    from portal.io.export import Column as Shown

    return (Shown("服务日期", lambda e: e.service_date), Shown("患者", lambda e: e.patient.masked_name),
            Shown("住院号", lambda e: e.patient.hospital_no or ""), Shown("服务类型", lambda e: e.task_type_label),
            Shown("服务结果", lambda e: e.outcome_label), Shown("病区", lambda e: e.ward.name if e.ward else ""),
            Shown("个案管理师", lambda e: e.case_manager.display_name if e.case_manager else ""))


DISEASE_DRILL = Drill(rows=_disease_rows(), columns=_disease_drill_columns())

BY_DISEASE = register(Report(
    code="cm_services_by_disease", title="月度服务报表·按病种",
    query=lambda params: (select(LedgerEntry.icd10_code.label("icd10_code"),
                                 LedgerEntry.disease_name.label("disease_name"), *_measures())
                          .group_by(LedgerEntry.icd10_code, LedgerEntry.disease_name)
                          .order_by(func.count(LedgerEntry.id).desc(), LedgerEntry.icd10_code)),
    columns=(Column("icd10_code", "ICD-10", fmt="text", blank="未入组", width=12),
             Column("disease_name", "病种", fmt="text", blank="未入组", width=20),
             Column("services", "服务人次", drill=DISEASE_DRILL),
             Column("patients", "服务人数", total="query", drill=DISEASE_DRILL),
             *(Column(c.key, c.header, compare=False, width=12,
                      drill=Drill(rows=_disease_rows(c.key), columns=DISEASE_DRILL.columns))
               for c in _outcome_columns()),
             Column("reach_rate", "联系成功率", fmt="percent", total="ratio", ratio=("reached", "services"))),
    filters=(SOURCE, TYPE), chart=Chart("pie", "disease_name", ("services",)),
    rollup=Rollup(_by_disease_summary, totals=_patients_total),
    summary="各病种（ICD-10）的服务人次、人数与联系成功率", **COMMON))

MONTHLY = (("by_type", BY_TYPE), ("by_manager", BY_MANAGER), ("by_disease", BY_DISEASE))
