"""New-technology forms: the application, a progress report, and the closing decision."""

from __future__ import annotations

from wtforms import IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange

from portal.core.forms import PortalForm, length, required, select_choices

from ..models import CATEGORIES, GRADES
from ..models.newtech import DECISIONS, MAX_TRIAL_MONTHS, MIN_TRIAL_MONTHS


def _int_or_none(value):
    return int(value) if str(value).isdigit() else None


class ApplicationForm(PortalForm):
    name = StringField("技术名称", validators=[required("请填写技术名称"), length(200)])
    code = StringField("编码", validators=[required("请填写编码"), length(40)],
                       description="目录中已有的条目填其院内编码；全新技术填医务科分配的编码")
    category = SelectField("类别", choices=select_choices([("", "（请选择）"), *CATEGORIES.items()]),
                           validators=[required("请选择技术类别")])
    grade = SelectField("等级", coerce=_int_or_none, choices=select_choices([("", "（请选择）"), *GRADES.items()]),
                        validators=[required("请选择手术（操作）等级")])
    department_id = SelectField("科室", coerce=_int_or_none, validators=[required("请选择科室")])
    lead_employee_no = StringField("技术负责人工号", validators=[required("请填写技术负责人工号"), length(32)])
    trial_months = IntegerField("试用期（月）", validators=[
        required(f"请填写试用期（{MIN_TRIAL_MONTHS}–{MAX_TRIAL_MONTHS} 个月）"),
        NumberRange(MIN_TRIAL_MONTHS, MAX_TRIAL_MONTHS,
                    message=f"试用期应为 {MIN_TRIAL_MONTHS}–{MAX_TRIAL_MONTHS} 个月")])
    description = TextAreaField("技术说明", validators=[required("请填写技术说明"), length(5000)])
    risk_assessment = TextAreaField("风险评估", validators=[required("请填写风险评估"), length(5000)])


class ReportForm(PortalForm):
    content = TextAreaField("报告内容", validators=[required("请填写报告内容"), length(10000)])


class DecisionForm(PortalForm):
    decision = RadioField("结论", choices=select_choices(DECISIONS), validators=[required("请选择结论：转常规或终止")])
    reason = TextAreaField("理由", validators=[required("请填写结论理由"), length(2000)])
