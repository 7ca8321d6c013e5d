"""The expenditure form."""

from __future__ import annotations

from wtforms import DateField, SelectField, StringField, TextAreaField

from portal.core.forms import PortalForm, length, optional, required

from ..projects.forms import MoneyField, int_or_none


class ExpenditureForm(PortalForm):
    line_id = SelectField("预算科目", coerce=int_or_none, validators=[required("请选择预算科目")])
    spent_on = DateField("支出日期", validators=[required("请填写支出日期（如 2026-03-15）")])
    amount = MoneyField("金额（元）", validators=[required("请填写金额（如 12,345.60）")])
    description = StringField("摘要", validators=[required(), length(500)])
    voucher_no = StringField("凭证号", validators=[required(), length(40)])
    over_reason = TextAreaField("超预算理由（超出科目余额时必填）", validators=[optional(), length(2000)])
