"""Qualification forms: the application (and medical affairs' entry), a state change, and a type."""

from __future__ import annotations

from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, Regexp

from portal.core.forms import PortalForm, length, optional, required, select_choices


def _int_or_none(value):
    return int(value) if str(value).isdigit() else None


class QualificationForm(PortalForm):
    type_id = SelectField("资质类型", coerce=_int_or_none, validators=[required("请选择资质类型")])
    # Checked by the service against the chosen type's levels (with a message that names them).
    level = SelectField("级别", validate_choice=False, validators=[optional()])
    number = StringField("证书编号", validators=[optional(), length(64)])
    issuer = StringField("发证机关", validators=[optional(), length(100)])
    issued_on = DateField("发证日期", validators=[optional()])
    valid_from = DateField("有效期起", validators=[optional()])
    valid_to = DateField("有效期至", validators=[optional()])
    scope = StringField("执业范围 / 岗位 / 说明", validators=[optional(), length(200)])
    note = TextAreaField("备注", validators=[optional(), length(2000)])
    comment = TextAreaField("申请说明", validators=[optional(), length(2000)])

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in ("type_id", "level", "number", "issuer", "issued_on",
                                                             "valid_from", "valid_to", "scope", "note", "comment")}


class StateForm(PortalForm):
    action = SelectField("操作", choices=select_choices({"suspend": "暂停", "restore": "恢复", "revoke": "撤销"}),
                         validators=[required("请选择操作")])
    reason = TextAreaField("原因", validators=[required("请填写原因"), length(500)])


class TypeForm(PortalForm):
    code = StringField("代码", validators=[required(), length(32),
                                         Regexp(r"^[A-Za-z0-9_\-]+\Z", message="只能包含字母、数字、下划线和连字符")])
    name = StringField("名称", validators=[required(), length(100)])
    category = SelectField("类别", validators=[required("请选择类别")])
    expires = BooleanField("有有效期（到期需换证）")
    reminder_days = StringField("到期前提醒天数", default="90,30,7", validators=[optional(), length(64)])
    requires_attachment = BooleanField("申请时必须上传证书附件")
    levels = TextAreaField("级别（每行一个，没有级别则留空）", validators=[optional(), length(1000)])
    sort_order = IntegerField("排序", default=0, validators=[optional(), NumberRange(0, 9999, "排序应在 0–9999 之间")])
    is_active = BooleanField("启用", default=True)
