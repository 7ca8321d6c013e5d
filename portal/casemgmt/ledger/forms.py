"""The ad-hoc service form."""

from __future__ import annotations

from wtforms import DateField, SelectField, StringField, TextAreaField

from portal.core.forms import PortalForm, length, optional, required, select_choices

from ..models import TASK_TYPES
from . import services as ledger


class AdhocServiceForm(PortalForm):
    patient_ref = StringField("患者住院号或证件号码", validators=[required("请填写患者住院号或证件号码"), length(64)])
    service_date = DateField("服务日期", validators=[required("请填写服务日期（如 2026-11-23）")])
    task_type = SelectField("服务类型", choices=select_choices(TASK_TYPES), validators=[required("请选择服务类型")])
    title = StringField("服务内容", validators=[optional(), length(100)])
    outcome = SelectField("服务结果", choices=select_choices(ledger.ADHOC_OUTCOMES),
                          validators=[required("请选择服务结果")])
    note = TextAreaField("备注", validators=[optional(), length(500)])
