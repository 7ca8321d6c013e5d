"""Template library forms: a category, a new template, a new version."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField

from portal.core.forms import PortalForm, length, optional, required


class CategoryForm(PortalForm):
    name = StringField("分类名称", validators=[required("请填写分类名称"), length(60)])


class TemplateForm(PortalForm):
    category_id = SelectField("分类", coerce=lambda v: int(v) if str(v).isdigit() else None,
                              validators=[required("请选择分类")])
    name = StringField("模板名称", validators=[required("请填写模板名称"), length(200)])
    description = TextAreaField("说明", validators=[optional(), length(2000)])
    file = FileField("文件")
    note = StringField("版本说明", validators=[optional(), length(200)])


class VersionForm(PortalForm):
    file = FileField("文件")
    note = StringField("版本说明", validators=[optional(), length(200)])
