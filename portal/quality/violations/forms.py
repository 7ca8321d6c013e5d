"""Handling a violation: explained, emergency confirmed, or rectification through the supervision loop."""

from __future__ import annotations

from wtforms import DateField, SelectField, TextAreaField

from portal.core.forms import PortalForm, length, optional, required, select_choices

ACTIONS = {"explained": "情况说明", "emergency": "确认为紧急情况", "rectification": "下发督导整改"}


class HandleForm(PortalForm):
    action = SelectField("处理方式", choices=select_choices(ACTIONS.items()), validators=[required("请选择处理方式")])
    note = TextAreaField("说明", validators=[required("请填写说明（原因或整改要求）"), length(1000)])
    deadline = DateField("整改期限", validators=[optional()])
