"""The adverse-event, handling, closing and satisfaction-survey forms."""

from __future__ import annotations

from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange

from portal.core.forms import PortalForm, length, optional, required, select_choices

from ..models import EVENT_KINDS, EVENT_STATES, SEVERITIES

SCORE_RANGE = NumberRange(1, 5, "评分应为 1–5 分")


class EventForm(PortalForm):
    kind = SelectField("类别", choices=select_choices(EVENT_KINDS), validators=[required("请选择类别")])
    severity = SelectField("严重程度", choices=select_choices(SEVERITIES), validators=[required("请选择严重程度")])
    occurred_on = DateField("发生日期", validators=[required("请填写发生日期（如 2026-11-23）")])
    patient_ref = StringField("患者住院号或证件号码", validators=[optional(), length(64)])
    description = TextAreaField("事件经过", validators=[required("请填写事件经过"), length(5000)])


class HandlingForm(PortalForm):
    handling = TextAreaField("处理经过", validators=[required("请填写处理经过"), length(5000)])
    status = SelectField("状态", choices=select_choices({k: v for k, v in EVENT_STATES.items() if k != "closed"}),
                         validators=[required("请选择状态")])


class CloseForm(PortalForm):
    # Its own id: the handling form on the same page has a "handling" field too.
    handling = TextAreaField("处理经过与结果", validators=[optional(), length(5000)], id="close-handling")


class SurveyForm(PortalForm):
    patient_ref = StringField("患者住院号或证件号码", validators=[optional(), length(64)])
    survey_month = StringField("调查月份", validators=[optional(), length(7)])
    timeliness = IntegerField("服务及时性", validators=[required("请为服务及时性评分（1–5 分）"), SCORE_RANGE])
    effectiveness = IntegerField("服务有效性", validators=[required("请为服务有效性评分（1–5 分）"), SCORE_RANGE])
    attitude = IntegerField("服务态度", validators=[required("请为服务态度评分（1–5 分）"), SCORE_RANGE])
    comment = TextAreaField("意见与建议", validators=[optional(), length(500)])
