"""The plan item forms (add one item, edit one item)."""

from __future__ import annotations

from wtforms import SelectField, StringField, TextAreaField

from portal.core.forms import MultiChoiceField, PortalForm, length, required, select_choices

from ..models import SPECIAL_NEEDS, TASK_TYPES, TIME_SLOTS
from . import imports as _plan_imports  # noqa: F401  (registers the cm_plan Excel import)


def _ward_or_none(value):
    return int(value) if str(value).isdigit() and len(str(value)) < 10 else None


class PlanItemEditForm(PortalForm):
    patient_name = StringField("姓名", validators=[length(50)])
    task_type = SelectField("服务项目", choices=select_choices({"": "（请选择）", **TASK_TYPES}),
                            validators=[required("请选择服务项目")])
    service_item = StringField("服务内容", validators=[length(100)])
    ward_id = SelectField("病区", coerce=_ward_or_none)
    bed = StringField("床号", validators=[length(16)])
    time_slot = SelectField("时段", choices=select_choices(TIME_SLOTS), default="any")
    special_needs = MultiChoiceField("特殊需求", choices=select_choices(SPECIAL_NEEDS))
    special_note = StringField("特殊需求说明", validators=[length(200)])
    note = TextAreaField("备注", validators=[length(500)])


class PlanItemForm(PlanItemEditForm):
    patient = StringField("患者住院号或证件号码", validators=[required("请填写患者的住院号或证件号码"), length(64)])
