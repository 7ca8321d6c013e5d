"""Sign-in, password and administration forms."""

from __future__ import annotations

from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import NumberRange, Regexp

from portal.core.forms import MultiChoiceField, PortalForm, length, optional, required, select_choices

from .models import DATA_SCOPES, DEPARTMENT_KINDS
from .passwords import MAX_LENGTH

CODE_RULE = Regexp(r"^[A-Za-z0-9_\-]+\Z", message="只能包含字母、数字、下划线和连字符")
ROLE_CODE_RULE = Regexp(r"^[a-z][a-z0-9_]*\Z", message="角色代码只能用小写字母、数字和下划线，且以字母开头")
WECOM_ID_RULE = Regexp(r"^[A-Za-z0-9_.@\-]*\Z", message="企业微信账号格式不正确")
LOGIN_NAME_RULE = Regexp(r"^[A-Za-z0-9_.\-]+\Z", message="登录名只能包含字母、数字、下划线、点和连字符")


def coerce_optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class LoginForm(PortalForm):
    login_name = StringField("登录名", validators=[required("请输入登录名"), length(64)])
    password = PasswordField("密码", validators=[required("请输入密码"), length(MAX_LENGTH)])


class ChangePasswordForm(PortalForm):
    current_password = PasswordField("当前密码", validators=[required("请输入当前密码"), length(MAX_LENGTH)])
    new_password = PasswordField("新密码", validators=[required("请输入新密码"), length(MAX_LENGTH)])
    confirm_password = PasswordField("确认新密码", validators=[required("请再次输入新密码"), length(MAX_LENGTH)])

    def validate_confirm_password(self, field):
        if field.data != self.new_password.data:
            from wtforms.validators import ValidationError

            raise ValidationError("两次输入的新密码不一致")


class UserForm(PortalForm):
    login_name = StringField("登录名", validators=[required(), length(64, 2), LOGIN_NAME_RULE])
    staff_id = SelectField("关联人员", coerce=coerce_optional_int, validators=[optional()], validate_choice=True)
    wecom_userid = StringField("企业微信账号", validators=[optional(), length(64),
                                                      WECOM_ID_RULE])
    role_ids = MultiChoiceField("角色", coerce=int, validators=[required("请至少选择一个角色")])


class NewUserForm(UserForm):
    password = PasswordField("初始密码", validators=[required(), length(MAX_LENGTH)],
                             description="用户首次登录时必须修改")


class ResetPasswordForm(PortalForm):
    password = PasswordField("临时密码", validators=[required(), length(MAX_LENGTH)],
                             description="用户下次登录时必须修改")


class RoleForm(PortalForm):
    code = StringField("角色代码", validators=[required(), length(32, 2), ROLE_CODE_RULE])
    name = StringField("角色名称", validators=[required(), length(50)])
    description = StringField("说明", validators=[optional(), length(255)])
    data_scope = SelectField("数据范围", choices=select_choices(DATA_SCOPES), validators=[required()])
    permissions = MultiChoiceField("权限", validators=[optional()])


class DepartmentForm(PortalForm):
    name = StringField("名称", validators=[required(), length(100)])
    code = StringField("代码", validators=[required(), length(32), CODE_RULE])
    kind = SelectField("类型", choices=select_choices(DEPARTMENT_KINDS), validators=[required()])
    parent_id = SelectField("上级", coerce=coerce_optional_int, validators=[optional()])
    sort_order = IntegerField("排序", default=0, validators=[optional(), NumberRange(0, 9999, "排序应为 0–9999")])
    is_active = BooleanField("启用", default=True)
    clinical = BooleanField("临床科室", default=True)


class StaffForm(PortalForm):
    employee_no = StringField("工号", validators=[required(), length(32), CODE_RULE])
    name = StringField("姓名", validators=[required(), length(50)])
    title = StringField("职称", validators=[optional(), length(50)])
    position = StringField("职务", validators=[optional(), length(50)])
    department_id = SelectField("所属科室", coerce=coerce_optional_int, validators=[required("请选择所属科室")])
    is_active = BooleanField("在职", default=True)
