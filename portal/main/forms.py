"""The working-day calendar's entry form."""

from __future__ import annotations

from wtforms import DateField, RadioField, StringField

from portal.core.forms import PortalForm, length, required, select_choices


class WorkdayForm(PortalForm):
    day = DateField("日期", validators=[required("请填写日期（如 2027-10-01）")])
    is_working_day = RadioField("安排", choices=select_choices([("0", "休息（法定节假日）"), ("1", "上班（调休）")]),
                                validators=[required("请选择该日是上班还是休息")])
    note = StringField("说明", validators=[required("请填写说明（如“国庆节”“国庆节调休上班”）"), length(100)])
