"""Surgeries: a month at a time, in the user's departments; 病案号 masked."""

from __future__ import annotations

from flask_login import current_user

from portal.auth.queries import department_choices
from portal.catalogue.models import GRADES
from portal.core.listing import arg_choice, arg_str
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.timeutil import format_datetime
from portal.io.export import Column, export_query

from .. import VIEW, bp
from ..listing import kept_list, period_and_department
from ..models import KINDS, URGENCIES
from . import queries

GRADE_CHOICES = {str(k): v for k, v in GRADES.items()}


def _filters():
    month, start, end, department_id = period_and_department(current_user.principal, VIEW)
    grade, kind = arg_choice("grade", GRADE_CHOICES), arg_choice("kind", KINDS)
    urgency, mrn = arg_choice("urgency", URGENCIES), "".join(arg_str("mrn", 32).split())
    args = {"month": f"{month:%Y-%m}", "department_id": department_id or "", "grade": grade, "kind": kind,
            "urgency": urgency, "mrn": mrn}
    return (lambda: queries.list_query(current_user.principal, start, end, department_id, grade, kind, urgency, mrn),
            args, month)


ROW = ("record_id", "masked_mrn", "department.name", "surgeon.name", "operation_name", "operation_code",
       "minimally_invasive", "grade", "kind_label", "urgency_label", "incision", "incision_label", "healing_label",
       "started_at")  # what a row of _rows.html shows


@bp.route("/surgeries")
@require(VIEW)
def list_surgeries():
    """A month's surgeries (default: last month), filtered by department, grade, 手术/介入 and 择期/急诊."""
    query, args, month = _filters()
    page, body = kept_list("surgeries", args, current_user.principal, VIEW, query, ROW,
                           "quality/surgeries/_rows.html")
    return render("quality/surgeries/list.html", "quality/_kept.html", page=page, body=body, args=args,
                  month=month, grades=GRADE_CHOICES, kinds=KINDS, urgencies=URGENCIES,
                  departments=department_choices(current_user.principal, VIEW))


@bp.route("/surgeries/export")
@require(VIEW)
def export_surgeries():
    """The surgery list as filtered, as .xlsx (病案号 masked)."""
    query, args, _ = _filters()
    columns = [Column("手术记录号", lambda s: s.record_id, 18),
               Column("出院记录号", lambda s: s.discharge_record_id, 18),
               Column("病案号", lambda s: s.masked_mrn, 12), Column("手术科室", lambda s: s.department.name, 14),
               Column("主刀", lambda s: s.surgeon.name, 10), Column("手术编码", lambda s: s.operation_code, 14),
               Column("国家临床版编码", lambda s: s.national_code, 14),
               Column("手术名称", lambda s: s.operation_name, 28),
               Column("级别", lambda s: s.grade, 6), Column("手术/介入", lambda s: s.kind_label, 8),
               Column("微创", lambda s: "是" if s.minimally_invasive else "否", 6),
               Column("切口", lambda s: s.incision_label, 6), Column("愈合", lambda s: s.healing_label, 6),
               Column("手术类别", lambda s: s.urgency_label, 8),
               Column("开始时间", lambda s: format_datetime(s.started_at), 18),
               Column("日间手术", lambda s: "是" if s.day_surgery else "否", 8)]
    return export_query(query(), columns, "手术记录", args, "quality_surgery")
