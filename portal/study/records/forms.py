"""Forms of the record page: opening the record of a session, and its minutes."""

from __future__ import annotations

from wtforms import IntegerField, StringField, TextAreaField, TimeField
from wtforms.validators import NumberRange

from portal.core.forms import PortalForm, length, optional, required


class StartRecordForm(PortalForm):
    starts = TimeField("开始时间", validators=[required("请填写开始时间（如 16:30）")])
    minutes = IntegerField("时长（分钟）", default=60,
                           validators=[required("请填写时长"), NumberRange(10, 480, "时长应在 10 至 480 分钟之间")])


class RecordForm(PortalForm):
    speaker = StringField("主讲人", validators=[required("请填写主讲人"), length(50)])
    minutes = IntegerField("时长（分钟）",
                           validators=[required("请填写时长"), NumberRange(10, 480, "时长应在 10 至 480 分钟之间")])
    summary = TextAreaField("会议纪要", validators=[optional(), length(5000)])
