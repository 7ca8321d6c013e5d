"""Filing forms: the first case, a document upload, and the filing's number and date."""

from __future__ import annotations

from wtforms import DateField, SelectField, StringField

from portal.core.forms import PortalForm, length, required


def _int_or_none(value):
    return int(value) if str(value).isdigit() else None


class FirstCaseForm(PortalForm):
    technology_id = SelectField("限制类技术", coerce=_int_or_none, validators=[required("请选择限制类技术")])
    first_case_date = DateField("首例日期", validators=[required("请填写首例日期（如 2026-11-20）")])
    patient_record_no = StringField("患者病案号", validators=[required("请填写病案号"), length(32)])
    surgeon_employee_no = StringField("术者工号", validators=[required("请填写术者工号"), length(32)])
    department_id = SelectField("科室", coerce=_int_or_none, validators=[required("请选择科室")])


class DocumentForm(PortalForm):
    slot = SelectField("材料类型", validators=[required("请选择材料类型")])


class FiledForm(PortalForm):
    filing_no = StringField("备案号", validators=[required("请填写备案号"), length(64)])
    filed_on = DateField("备案日期", validators=[required("请填写备案日期（如 2026-12-10）")])
