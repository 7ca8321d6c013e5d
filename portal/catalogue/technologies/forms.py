"""Catalogue forms: an entry, enabling/disabling it, and the bulk actions on selected rows."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField

from portal.core.forms import MultiChoiceField, PortalForm, length, optional, required, select_choices

from ..models import CATEGORIES, FLAGS, GRADES, STATUSES


def _int_or_none(value):
    return int(value) if str(value).isdigit() else None


class TechnologyForm(PortalForm):
    code = StringField("院内编码", validators=[required("请填写院内编码"), length(40)])
    national_code = StringField("国家临床版3.0编码", validators=[optional(), length(40)])
    insurance_code = StringField("医保版2.0编码", validators=[optional(), length(40)])
    name = StringField("名称", validators=[required("请填写技术名称"), length(200)])
    category = SelectField("类别", choices=select_choices(CATEGORIES), validators=[required("请选择类别")])
    grade = SelectField("手术等级", coerce=_int_or_none, choices=select_choices(GRADES),
                        validators=[required("请选择手术等级")])
    perf_grade4 = BooleanField(FLAGS["perf_grade4"])
    minimally_invasive = BooleanField(FLAGS["minimally_invasive"])
    day_surgery = BooleanField(FLAGS["day_surgery"])
    restricted = BooleanField(FLAGS["restricted"])
    new_tech = BooleanField(FLAGS["new_tech"])
    department_ids = MultiChoiceField("可开展科室", coerce=int, validators=[optional()])
    prerequisites = StringField("前置资质（资质类型代码，用“、”或逗号分隔）", validators=[optional(), length(500)])
    note = TextAreaField("备注", validators=[optional(), length(2000)])
    reason = StringField("修改原因", validators=[required("请填写修改原因"), length(500)])
    revision = HiddenField()

    def values(self) -> dict:
        return {"code": self.code.data, "national_code": self.national_code.data or "",
                "insurance_code": self.insurance_code.data or "", "name": self.name.data,
                "category": self.category.data, "grade": self.grade.data,
                **{flag: bool(getattr(self, flag).data) for flag in FLAGS},
                "prerequisites": self.prerequisites.data or "", "note": self.note.data or ""}

    def expected_revision(self) -> int | None:
        return int(self.revision.data) if str(self.revision.data or "").isdigit() else None


class StatusForm(PortalForm):
    status = SelectField("状态", choices=select_choices(STATUSES), validators=[required("请选择状态")])
    reason = StringField("原因", validators=[required("请填写启用或停用的原因"), length(500)])
    revision = IntegerField(validators=[optional()])


BULK_ACTIONS = {"disable": "停用", "enable": "启用", "add_departments": "增加可开展科室",
                "remove_departments": "移除可开展科室"}


class BulkForm(PortalForm):
    ids = MultiChoiceField("条目", coerce=int, validate_choice=False, validators=[required("请先勾选要操作的条目")])
    action = SelectField("操作", choices=select_choices(BULK_ACTIONS), validators=[required("请选择操作")])
    department_ids = MultiChoiceField("科室", coerce=int, validators=[optional()])
    reason = StringField("原因", validators=[required("请填写原因"), length(500)])
