"""The patient, enrolment, closing, handover-note and ward-coverage forms."""

from __future__ import annotations

from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import ValidationError

from portal.auth.forms import coerce_optional_int
from portal.core.forms import PortalForm, length, optional, required, select_choices

from ..models import GENDERS, ID_TYPES, PACKAGE_MONTHS, PACKAGES
from .services import FIRST_DAY, LAST_DAY, OUT_OF_RANGE


def sane_date(form, field) -> None:
    if field.data is not None and not FIRST_DAY <= field.data <= LAST_DAY:
        raise ValidationError(OUT_OF_RANGE)


class PatientForm(PortalForm):
    name = StringField("姓名", validators=[required("请填写患者姓名"), length(50)])
    id_type = SelectField("证件类型", choices=select_choices(ID_TYPES), default="resident")
    id_number = StringField("证件号码", validators=[required("请填写证件号码"), length(40)])
    phone = StringField("电话", validators=[optional(), length(20)])
    hospital_no = StringField("住院号", validators=[optional(), length(32)])
    gender = SelectField("性别", choices=select_choices(GENDERS), default="U")
    birth_date = DateField("出生日期", validators=[optional(), sane_date],
                           description="居民身份证可不填：出生日期与性别从证件号码读出")
    notes = TextAreaField("备注", validators=[optional(), length(2000)])


class EditPatientForm(PatientForm):
    # The full name, ID number and phone are never put back on the page: blank keeps the stored value.
    name = StringField("姓名", validators=[optional(), length(50)])
    id_number = StringField("证件号码", validators=[optional(), length(40)])
    clear_phone = BooleanField("删除电话号码")


class EnrolmentForm(PortalForm):
    icd10_code = StringField("ICD-10 编码", validators=[required("请填写 ICD-10 编码"), length(16)])
    disease_name = StringField("疾病名称", validators=[required("请填写疾病名称"), length(100)])
    tnm_stage = StringField("TNM 分期", validators=[optional(), length(32)])
    package = SelectField("服务包", choices=select_choices(PACKAGES), default="basic")
    package_months = SelectField("服务期限", coerce=coerce_optional_int,
                                 choices=select_choices([("", "（基础服务包不填）")]
                                                        + [(m, f"{m} 个月") for m in PACKAGE_MONTHS]))
    start_date = DateField("入组日期", validators=[required("请填写入组日期（如 2026-11-23）"), sane_date])
    ward_id = SelectField("病区", coerce=coerce_optional_int)
    bed = StringField("床号", validators=[optional(), length(16)])
    case_manager_id = SelectField("个案管理师", coerce=coerce_optional_int)
    admission_date = DateField("入院日期", validators=[optional(), sane_date])
    surgery_date = DateField("手术日期", validators=[optional(), sane_date])
    discharge_date = DateField("出院日期", validators=[optional(), sane_date])

    KEYS = ("icd10_code", "disease_name", "tnm_stage", "package", "package_months", "start_date", "ward_id", "bed",
            "case_manager_id", "admission_date", "surgery_date", "discharge_date")

    def values(self) -> dict:
        return {k: getattr(self, k).data for k in self.KEYS if getattr(self, k, None) is not None}


class EditEnrolmentForm(EnrolmentForm):
    icd10_code = None  # the disease decides the pathway version: it is not edited here
    disease_name = None


class CloseForm(PortalForm):
    closed_on = DateField("结案日期", validators=[required("请填写结案日期"), sane_date])
    close_reason = StringField("结案原因", validators=[required("请填写结案原因"), length(200)])


class NoteForm(PortalForm):
    body = TextAreaField("交接内容", validators=[required("请填写交接内容"), length(2000)])
    to_user_id = SelectField("交给", coerce=coerce_optional_int)


class CoverageForm(PortalForm):
    ward_id = SelectField("病区", coerce=coerce_optional_int, validators=[required("请选择病区")])
    case_manager_id = SelectField("个案管理师", coerce=coerce_optional_int, validators=[required("请选择个案管理师")])
