"""Forms of the plan page: a planned session, and the submission with its note."""

from __future__ import annotations

from wtforms import DateField, IntegerField, StringField, TextAreaField
from wtforms.validators import NumberRange

from portal.core.forms import PortalForm, length, optional, required


class SessionForm(PortalForm):
    day = DateField("学习日期", validators=[required("请填写学习日期（如 2026-12-15）")])
    topic = StringField("学习主题", validators=[required("请填写学习主题"), length(200)])
    speaker = StringField("主讲人", validators=[required("请填写主讲人"), length(50)])
    attendees = StringField("参加对象", validators=[optional(), length(200)])
    minutes = IntegerField("时长（分钟）", default=60,
                           validators=[required("请填写时长"), NumberRange(10, 480, "时长应在 10 至 480 分钟之间")])


class SubmitPlanForm(PortalForm):
    note = TextAreaField("说明", validators=[optional(), length(2000)])
