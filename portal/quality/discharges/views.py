"""Discharges: a month at a time, in the user's departments; 病案号 masked."""

from __future__ import annotations

from flask_login import current_user

from portal.auth.queries import department_choices
from portal.core.listing import arg_choice, arg_str
from portal.core.permissions import require
from portal.core.rendering import render
from portal.io.export import Column, export_query

from .. import VIEW, bp
from ..listing import kept_list, period_and_department
from ..models import DISCHARGE_MODES
from . import queries


def _filters():
    month, start, end, department_id = period_and_department(current_user.principal, VIEW)
    mode = arg_choice("mode", DISCHARGE_MODES)
    mrn = "".join(arg_str("mrn", 32).split())
    args = {"month": f"{month:%Y-%m}", "department_id": department_id or "", "mode": mode, "mrn": mrn}
    return lambda: queries.list_query(current_user.principal, start, end, department_id, mode, mrn), args, month


ROW = ("record_id", "masked_mrn", "patient_pseudonym", "department.name", "admission_date", "discharge_date",
       "mode_label", "day_surgery", "is_surgical")  # what a row of _rows.html shows


@bp.route("/discharges")
@require(VIEW)
def list_discharges():
    """A month's discharges (default: last month), filtered by department and 离院方式."""
    query, args, month = _filters()
    page, body = kept_list("discharges", args, current_user.principal, VIEW, query, ROW,
                           "quality/discharges/_rows.html")
    return render("quality/discharges/list.html", "quality/_kept.html", page=page, body=body, args=args,
                  month=month, modes=DISCHARGE_MODES,
                  departments=department_choices(current_user.principal, VIEW))


@bp.route("/discharges/export")
@require(VIEW)
def export_discharges():
    """The discharge list as filtered, as .xlsx (病案号 masked)."""
    query, args, _ = _filters()
    columns = [Column("出院记录号", lambda d: d.record_id, 18), Column("病案号", lambda d: d.masked_mrn, 12),
               Column("住院次数", lambda d: d.admission_no, 8), Column("患者标识", lambda d: d.patient_pseudonym, 12),
               Column("出院科室", lambda d: d.department.name, 14), Column("入院日期", lambda d: d.admission_date, 12),
               Column("出院日期", lambda d: d.discharge_date, 12), Column("离院方式", lambda d: d.mode_label, 12),
               Column("日间手术", lambda d: "是" if d.day_surgery else "否", 8),
               Column("手术/介入", lambda d: "是" if d.is_surgical else "否", 8)]
    return export_query(query(), columns, "出院记录", args, "quality_discharge")
