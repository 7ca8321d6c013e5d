"""Forms of key projects: creation, settings, closing; and the money field every budget form uses."""

from __future__ import annotations

from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, StopValidation

from portal.core.forms import PortalForm, length, optional, required

from ..money import MoneyError, positive_money


class MoneyField(StringField):
    """An amount typed as 12,345.6 or ¥12,345.60: `data` is an exact Decimal (or None when invalid)."""

    def process_formdata(self, valuelist):
        self.raw = valuelist[0].strip() if valuelist else ""
        self.data = None
        self.money_error = None
        if self.raw:
            try:
                self.data = positive_money(self.raw)
            except MoneyError as error:
                self.money_error = str(error)

    def _value(self):
        return getattr(self, "raw", None) or (f"{self.data:.2f}" if self.data is not None else "")

    def pre_validate(self, form):
        if getattr(self, "money_error", None):
            raise StopValidation(self.money_error)  # before DataRequired, which would say only "required"


def int_or_none(value):
    return int(value) if str(value).isdigit() else None


class ProjectForm(PortalForm):
    code = StringField("项目编号", validators=[required(), length(32)])
    name = StringField("项目名称", validators=[required(), length(200)])
    department_id = SelectField("负责科室", coerce=int_or_none, validators=[required("请选择负责科室")])
    start_date = DateField("开始日期", validators=[required("请填写开始日期（如 2026-01-01）")])
    end_date = DateField("结束日期", validators=[required("请填写结束日期（如 2026-12-31）")])
    lines = TextAreaField("预算科目", validators=[required("请至少填写一个预算科目"), length(20000)])
    thresholds = StringField("预警线（%）", default="80,100", validators=[required(), length(40)])
    ahead_margin = IntegerField("超进度容差（百分点）", default=10,
                                validators=[NumberRange(0, 100, "应为 0–100 的整数")])
    approve_over_line = BooleanField("超出科目余额的支出需审批")


class SettingsForm(PortalForm):
    thresholds = StringField("预警线（%）", validators=[required(), length(40)])
    ahead_margin = IntegerField("超进度容差（百分点）", validators=[NumberRange(0, 100, "应为 0–100 的整数")])
    approve_over_line = BooleanField("超出科目余额的支出需审批")


class CloseForm(PortalForm):
    closing_note = TextAreaField("决算说明", validators=[optional(), length(5000)])
