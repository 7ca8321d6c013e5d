"""The finding and answer forms."""

from __future__ import annotations

from wtforms import DateField, SelectField, StringField, TextAreaField

from portal.core.forms import PortalForm, length, required


class FindingForm(PortalForm):
    department_id = SelectField("科室", coerce=lambda v: int(v) if str(v).isdigit() else None,
                                validators=[required("请选择科室")])
    title = StringField("问题", validators=[required(), length(200)])
    description = TextAreaField("问题描述", validators=[required(), length(5000)])
    deadline = DateField("整改期限", validators=[required("请填写整改期限（如 2026-12-31）")])


class AnswerForm(PortalForm):
    rectification = TextAreaField("整改措施", validators=[required("请填写整改措施"), length(5000)])
