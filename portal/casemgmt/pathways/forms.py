"""The pathway and pathway-steps forms."""

from __future__ import annotations

from wtforms import SelectField, StringField, TextAreaField

from portal.core.forms import PortalForm, length, optional, required, select_choices

from ..models import PACKAGES

PACKAGE_CHOICES = {"any": "全部服务包", **PACKAGES}


class PathwayForm(PortalForm):
    name = StringField("路径名称", validators=[required("请填写路径名称"), length(100)])
    icd10_prefix = StringField("ICD-10 编码前缀", validators=[required("请填写 ICD-10 编码前缀"), length(16)],
                               description="如 C34 覆盖 C34.0–C34.9；入组时取最长匹配的前缀")
    package = SelectField("适用服务包", choices=select_choices(PACKAGE_CHOICES), default="any")
    description = TextAreaField("说明", validators=[optional(), length(2000)])


class StepsForm(PortalForm):
    note = StringField("版本说明", validators=[optional(), length(200)], description="如：增加术后第 30 天随访")
