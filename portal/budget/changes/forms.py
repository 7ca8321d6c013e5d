"""The budget change request form."""

from __future__ import annotations

from wtforms import SelectField, TextAreaField

from portal.core.forms import PortalForm, length, required

from ..projects.forms import MoneyField, int_or_none


class ChangeForm(PortalForm):
    kind = SelectField("调整方式", validators=[required()])
    from_line_id = SelectField("调出科目（调剂时）", coerce=int_or_none)
    to_line_id = SelectField("调入 / 追加科目", coerce=int_or_none, validators=[required("请选择科目")])
    amount = MoneyField("金额（元）", validators=[required("请填写金额")])
    reason = TextAreaField("调整理由", validators=[required("请填写调整理由"), length(2000)])
