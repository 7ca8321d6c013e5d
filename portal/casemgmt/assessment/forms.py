"""The monthly assessment form."""

from __future__ import annotations

from wtforms import StringField, TextAreaField

from portal.core.forms import PortalForm, length, required

from ..assessment import services as assessments


class AssessmentForm(PortalForm):
    score = StringField("考评分（0–100 分，可保留一位小数）", validators=[required("请填写考评分")])
    payable = StringField("月度应付费用（元）", validators=[required("请填写月度应付费用")])
    note = TextAreaField("备注", validators=[length(assessments.MAX_NOTE)])
