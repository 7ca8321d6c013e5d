"""The department's forms: one file for a material, and the submission."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import TextAreaField

from portal.core.forms import PortalForm, length, optional


class UploadForm(PortalForm):
    file = FileField("文件")


class SubmitForm(PortalForm):
    comment = TextAreaField("提交说明", validators=[optional(), length(2000)])
