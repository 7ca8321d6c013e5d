"""Privilege forms: an application (one person or the department's many), an adjustment, an override
confirmation and an admission rule."""

from __future__ import annotations

from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from portal.catalogue.models.technologies import CATEGORIES
from portal.core.forms import MultiChoiceField, PortalForm, length, optional, required, select_choices

from ..models.privileges import ACTIONS, GRADES, TITLE_LEVELS


def _int_or_none(value):
    return int(value) if str(value).isdigit() else None


class Checkboxes(MultiChoiceField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ApplicationForm(PortalForm):
    kind = SelectField("授权方式", choices=select_choices([("technology", "单项技术授权"),
                                                          ("grade", "分级授权（某级别及以下）")]),
                       validators=[required("请选择授权方式")])
    technology = StringField("技术编码（院内编码或国家临床版编码）", validators=[optional(), length(40)])
    grade = SelectField("手术级别", coerce=_int_or_none, choices=select_choices([("", "（请选择）"), *GRADES.items()]),
                        validators=[optional()])
    categories = Checkboxes("类别", choices=select_choices(list(CATEGORIES.items())), validate_choice=False)
    can_order = BooleanField("开单权", default=True)
    can_perform = BooleanField("执行权", default=True)
    valid_from = DateField("授权起", validators=[optional()])
    valid_to = DateField("授权至", validators=[required("请填写授权截止日期")])
    reason = TextAreaField("申请理由", validators=[optional(), length(2000)])

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in ("kind", "technology", "grade", "categories", "can_order",
                                                             "can_perform", "valid_from", "valid_to", "reason")}


class BulkApplicationForm(ApplicationForm):
    staff_ids = Checkboxes("人员", coerce=int, validate_choice=False)


class AdjustmentForm(PortalForm):
    action = SelectField("调整事项", choices=select_choices([(k, v) for k, v in ACTIONS.items() if k != "apply"]),
                         validators=[required("请选择调整事项")])
    reason = TextAreaField("理由", validators=[required("请填写理由"), length(1000)])
    valid_to = DateField("新的截止日期（延长、再授权）", validators=[optional()])
    grade = SelectField("新的级别（升级、降级）", coerce=_int_or_none,
                        choices=select_choices([("", "（不变）"), *GRADES.items()]), validators=[optional()])
    categories = Checkboxes("保留的类别（缩小范围）", choices=select_choices(list(CATEGORIES.items())),
                            validate_choice=False)
    can_order = BooleanField("保留开单权", default=True)
    can_perform = BooleanField("保留执行权", default=True)

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in ("reason", "valid_to", "grade", "categories", "can_order",
                                                             "can_perform")}


class RenewalForm(PortalForm):
    valid_to = DateField("再授权至", validators=[required("请填写再授权截止日期")])
    reason = TextAreaField("申请理由（开展例数、质量情况等）", validators=[required("请填写理由"), length(1000)])


class ConfirmForm(PortalForm):
    comment = TextAreaField("确认意见", validators=[required("请填写确认意见"), length(1000)])


class RuleForm(PortalForm):
    grade = SelectField("手术级别", coerce=_int_or_none, choices=select_choices([("", "（请选择）"), *GRADES.items()]),
                        validators=[required("请选择手术级别")])
    category = SelectField("类别", choices=select_choices([("", "全部类别"), *CATEGORIES.items()]),
                           validators=[optional()])
    min_title = SelectField("最低职称", choices=select_choices([("", "（不限）"), *((t, t) for t in TITLE_LEVELS)]),
                            validators=[optional()])
    min_years = IntegerField("任现职称年限（年）", default=0,
                             validators=[optional(), NumberRange(0, 40, "年限应在 0–40 之间")])
    trainings = StringField("须完成的培训（资质类型代码，逗号分隔）", validators=[optional(), length(200)])
    certificates = StringField("须持有的证书（资质类型代码，逗号分隔）", validators=[optional(), length(200)])
    combine = SelectField("组合方式", choices=select_choices([("and", "全部满足（且）"), ("or", "满足其一（或）")]),
                          validators=[required()])
    is_active = BooleanField("启用", default=True)
    note = StringField("说明", validators=[optional(), length(500)])

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in ("grade", "category", "min_title", "min_years", "trainings",
                                                             "certificates", "combine", "is_active", "note")}
