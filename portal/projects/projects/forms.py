"""Project forms: the project with its materials and target departments; publish and close."""

from __future__ import annotations

from wtforms import DateField, FieldList, Form, FormField, SelectField, SelectMultipleField, StringField, TextAreaField

from portal.core.forms import PortalForm, length, optional, required

MATERIAL_ROWS = 8


def _int_or_none(value):
    return int(value) if str(value or "").isdigit() else None


class MaterialEntry(Form):
    name = StringField("材料名称", validators=[optional(), length(200)])
    note = StringField("说明", validators=[optional(), length(500)])
    template_id = SelectField("模板", coerce=_int_or_none, validate_choice=False)


class ProjectForm(PortalForm):
    category = StringField("项目类别", validators=[required("请填写项目类别"), length(60)])
    title = StringField("项目名称", validators=[required("请填写项目名称"), length(200)])
    description = TextAreaField("项目说明", validators=[optional(), length(5000)])
    starts_on = DateField("开始日期", validators=[required("请填写开始日期（如 2026-12-01）")])
    ends_on = DateField("结束日期", validators=[required("请填写结束日期（如 2026-12-31）")])
    deadline = DateField("提交截止", validators=[required("请填写提交截止日期（如 2026-12-20）")])
    # Checked by the service (a Chinese message for an unknown or non-target department).
    department_ids = SelectMultipleField("目标科室", coerce=_int_or_none, validate_choice=False)
    materials = FieldList(FormField(MaterialEntry), min_entries=MATERIAL_ROWS, max_entries=20)


class ActionForm(PortalForm):
    """Publish, close and archive: the CSRF token is all they carry."""
